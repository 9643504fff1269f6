//! Aggregates over Arrow columns, chosen at run time.
//!
//! The colleague's [`Aggregate`] trait is static (tuples of typed aggregates). A pipeline's
//! aggregate list is only known at run time, so [`RowAggs`] implements `Aggregate` once over a
//! list of [`Slot`]s: its input is a row of the batch, its accumulator one slot per aggregate.
//! The per-row cost is a loop over the slots with one `match` each.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::udaf::{user_column, user_input, user_slot, UserAgg, UserSlot};
use crate::aggregate::Aggregate;
use crate::error::{DataflowError, Result};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// `COUNT(*)`, or `COUNT(col)` (non-null values) with a column.
    Count,
    /// `SUM(col)` over Int64 or Float64.
    Sum,
    /// `MIN(col)` over Int64, Float64 or Utf8.
    Min,
    /// `MAX(col)` over Int64, Float64 or Utf8.
    Max,
    /// `AVG(col)` over Int64 or Float64, as Float64.
    Avg,
    /// `COUNT(DISTINCT col)` over Int64 or Utf8, exact.
    CountDistinct,
    /// The value with the smallest event time (ties: first read).
    First,
    /// The value with the largest event time (ties: last read).
    Last,
    /// A user-defined aggregate over one column ([`udaf`](super::udaf)).
    User,
}

/// One aggregate of a window: function, input column and output name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggExpr {
    pub(crate) func: AggFunc,
    pub(crate) column: Option<String>,
    pub(crate) name: String,
    /// The aggregate of [`AggFunc::User`].
    pub(crate) user: Option<UserAgg>,
}

impl AggExpr {
    /// The same aggregate with output column `name`.
    #[must_use]
    pub fn as_(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The output column name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn on(func: AggFunc, prefix: &str, column: &str) -> Self {
        AggExpr { func, column: Some(column.to_string()), name: format!("{prefix}_{column}"), user: None }
    }
}

/// `COUNT(*)`, named `count`.
#[must_use]
pub fn count() -> AggExpr {
    AggExpr { func: AggFunc::Count, column: None, name: "count".into(), user: None }
}
/// `COUNT(column)`: non-null values, named `count_<column>`.
#[must_use]
pub fn count_col(column: &str) -> AggExpr {
    AggExpr::on(AggFunc::Count, "count", column)
}
/// `SUM(column)`, named `sum_<column>`.
#[must_use]
pub fn sum(column: &str) -> AggExpr {
    AggExpr::on(AggFunc::Sum, "sum", column)
}
/// `MIN(column)`, named `min_<column>`.
#[must_use]
pub fn min(column: &str) -> AggExpr {
    AggExpr::on(AggFunc::Min, "min", column)
}
/// `MAX(column)`, named `max_<column>`.
#[must_use]
pub fn max(column: &str) -> AggExpr {
    AggExpr::on(AggFunc::Max, "max", column)
}
/// `AVG(column)`, named `avg_<column>`.
#[must_use]
pub fn avg(column: &str) -> AggExpr {
    AggExpr::on(AggFunc::Avg, "avg", column)
}
/// `COUNT(DISTINCT column)`, named `count_distinct_<column>`.
#[must_use]
pub fn count_distinct(column: &str) -> AggExpr {
    AggExpr::on(AggFunc::CountDistinct, "count_distinct", column)
}
/// `FIRST(column)` by event time, named `first_<column>`.
#[must_use]
pub fn first(column: &str) -> AggExpr {
    AggExpr::on(AggFunc::First, "first", column)
}
/// `LAST(column)` by event time, named `last_<column>`.
#[must_use]
pub fn last(column: &str) -> AggExpr {
    AggExpr::on(AggFunc::Last, "last", column)
}

/// The value types aggregates read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    I64,
    F64,
    Str,
}

/// An aggregate resolved against the input schema.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    func: AggFunc,
    /// Input column index and type; `None` for `COUNT(*)`.
    input: Option<(usize, ValueType)>,
    name: String,
    /// A user aggregate and its input column.
    user: Option<(UserAgg, usize)>,
}

/// A scalar value of a min/max/first/last.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum Scalar {
    /// Int64.
    I64(i64),
    /// Float64.
    F64(f64),
    /// Utf8.
    Str(String),
}

/// One aggregate's accumulator.
#[derive(Debug, Clone)]
pub enum Slot {
    /// Count.
    Count(i64),
    /// Sum of Int64 (wrapping).
    SumI(i64),
    /// Sum of Float64.
    SumF(f64),
    /// Min or max.
    Extreme {
        /// True for max.
        max: bool,
        /// The best value so far.
        value: Option<Scalar>,
    },
    /// Sum and count for avg.
    Avg(f64, i64),
    /// Distinct Int64 values.
    DistinctI(HashSet<i64>),
    /// Distinct strings.
    DistinctS(HashSet<String>),
    /// First or last by event time.
    Positional {
        /// True for last.
        last: bool,
        /// (event time, value).
        value: Option<(i64, Scalar)>,
    },
    /// A user-defined aggregate's accumulator.
    User(UserSlot),
}

/// One input column of one aggregate, bound to the current batch.
pub(crate) enum Bound {
    None,
    I64(Int64Array),
    F64(Float64Array),
    Str(StringArray),
    /// The input column of a user aggregate.
    User(ArrayRef),
}

/// One row as the aggregates see it.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    inputs: &'a [Bound],
    row: usize,
    ts: i64,
}

impl<'a> RowRef<'a> {
    pub(crate) fn new(inputs: &'a [Bound], row: usize, ts: i64) -> Self {
        RowRef { inputs, row, ts }
    }
}

/// The aggregates of one window operator as one [`Aggregate`].
#[derive(Debug, Clone)]
pub struct RowAggs {
    resolved: Arc<[Resolved]>,
}

fn value_type(dt: &DataType) -> Option<ValueType> {
    match dt {
        DataType::Int64 => Some(ValueType::I64),
        DataType::Float64 => Some(ValueType::F64),
        DataType::Utf8 => Some(ValueType::Str),
        _ => None,
    }
}

impl RowAggs {
    /// Resolves `exprs` against `schema`.
    pub(crate) fn resolve(exprs: &[AggExpr], schema: &Schema) -> Result<Self> {
        let mut resolved = Vec::with_capacity(exprs.len());
        for e in exprs {
            if let Some(user) = &e.user {
                resolved.push(Resolved {
                    func: e.func,
                    input: None,
                    name: e.name.clone(),
                    user: Some(user_input(e, user, schema)?),
                });
                continue;
            }
            let input = match &e.column {
                None => None,
                Some(col) => {
                    let idx = schema.index_of(col).map_err(|_| {
                        DataflowError::Schema(format!("aggregate `{}`: no column `{col}`", e.name))
                    })?;
                    let dt = schema.field(idx).data_type();
                    let vt = value_type(dt).ok_or_else(|| {
                        DataflowError::Schema(format!(
                            "aggregate `{}`: column `{col}` has unsupported type {dt}",
                            e.name
                        ))
                    })?;
                    let ok = match e.func {
                        AggFunc::Sum | AggFunc::Avg => vt != ValueType::Str,
                        AggFunc::CountDistinct => vt != ValueType::F64,
                        _ => true,
                    };
                    if !ok {
                        return Err(DataflowError::Schema(format!(
                            "aggregate `{}`: {:?} does not accept column `{col}` of type {dt}",
                            e.name, e.func
                        )));
                    }
                    Some((idx, vt))
                }
            };
            if input.is_none() && e.func != AggFunc::Count {
                return Err(DataflowError::InvalidPipeline(format!("aggregate `{}` needs a column", e.name)));
            }
            resolved.push(Resolved { func: e.func, input, name: e.name.clone(), user: None });
        }
        Ok(RowAggs { resolved: resolved.into() })
    }

    /// Binds the input columns of `batch`.
    pub(crate) fn bind(&self, batch: &RecordBatch) -> Vec<Bound> {
        self.resolved
            .iter()
            .map(|r| match r.input {
                None if r.user.is_some() => Bound::User(
                    r.user
                        .as_ref()
                        .map_or_else(|| Arc::clone(batch.column(0)), |(_, i)| Arc::clone(batch.column(*i))),
                ),
                None => Bound::None,
                Some((idx, vt)) => {
                    let col = batch.column(idx);
                    match vt {
                        ValueType::I64 => Bound::I64(col.as_primitive::<Int64Type>().clone()),
                        ValueType::F64 => Bound::F64(col.as_primitive::<Float64Type>().clone()),
                        ValueType::Str => Bound::Str(col.as_string::<i32>().clone()),
                    }
                }
            })
            .collect()
    }

    /// The output fields, in order.
    pub(crate) fn fields(&self) -> Vec<Field> {
        self.resolved
            .iter()
            .map(|r| {
                if let Some((user, _)) = &r.user {
                    let (dt, nullable) = user.0.output_type();
                    return Field::new(&r.name, dt, nullable);
                }
                let dt = match (r.func, r.input.map(|(_, t)| t)) {
                    (AggFunc::Count | AggFunc::CountDistinct, _) => DataType::Int64,
                    (AggFunc::Avg, _) | (_, Some(ValueType::F64)) => DataType::Float64,
                    (_, Some(ValueType::Str)) => DataType::Utf8,
                    _ => DataType::Int64,
                };
                let nullable = !matches!(r.func, AggFunc::Count | AggFunc::CountDistinct | AggFunc::Sum);
                Field::new(&r.name, dt, nullable)
            })
            .collect()
    }

    /// Builds the output columns from finished accumulators (one `Vec<Slot>` per row).
    pub(crate) fn columns(&self, rows: &[Vec<Slot>]) -> Vec<ArrayRef> {
        (0..self.resolved.len())
            .map(|j| {
                if let Some(Resolved { user: Some((user, _)), .. }) = self.resolved.get(j) {
                    return user_column(user, rows, j);
                }
                let slots = rows.iter().map(|r| r.get(j));
                let vt = self.resolved.get(j).and_then(|r| r.input.map(|(_, t)| t));
                column(slots, vt)
            })
            .collect()
    }
}

fn column<'a>(slots: impl Iterator<Item = Option<&'a Slot>>, vt: Option<ValueType>) -> ArrayRef {
    let slots: Vec<Option<&Slot>> = slots.collect();
    let scalar = |s: Option<&Scalar>| s.cloned();
    let values: Vec<Option<Scalar>> = slots
        .iter()
        .map(|s| match s {
            Some(Slot::Count(n) | Slot::SumI(n)) => Some(Scalar::I64(*n)),
            Some(Slot::SumF(x)) => Some(Scalar::F64(*x)),
            Some(Slot::Avg(sum, n)) => (*n > 0).then(|| Scalar::F64(sum / *n as f64)),
            Some(Slot::DistinctI(set)) => Some(Scalar::I64(set.len() as i64)),
            Some(Slot::DistinctS(set)) => Some(Scalar::I64(set.len() as i64)),
            Some(Slot::Extreme { value, .. }) => scalar(value.as_ref()),
            Some(Slot::Positional { value, .. }) => scalar(value.as_ref().map(|(_, v)| v)),
            Some(Slot::User(_)) | None => None,
        })
        .collect();
    let first_kind = slots.iter().flatten().next();
    let out_type = match first_kind {
        Some(Slot::Avg(..) | Slot::SumF(_)) => ValueType::F64,
        Some(Slot::Count(_) | Slot::SumI(_) | Slot::DistinctI(_) | Slot::DistinctS(_)) => ValueType::I64,
        _ => vt.unwrap_or(ValueType::I64),
    };
    match out_type {
        ValueType::I64 => Arc::new(
            values
                .iter()
                .map(|v| if let Some(Scalar::I64(x)) = v { Some(*x) } else { None })
                .collect::<Int64Array>(),
        ),
        ValueType::F64 => Arc::new(
            values
                .iter()
                .map(|v| if let Some(Scalar::F64(x)) = v { Some(*x) } else { None })
                .collect::<Float64Array>(),
        ),
        ValueType::Str => Arc::new(
            values
                .iter()
                .map(|v| if let Some(Scalar::Str(x)) = v { Some(x.as_str()) } else { None })
                .collect::<StringArray>(),
        ),
    }
}

/// The value of `bound` at `row`, if not null.
#[inline]
fn read(bound: &Bound, row: usize) -> Option<Scalar> {
    match bound {
        Bound::None | Bound::User(_) => None,
        Bound::I64(a) => a.is_valid(row).then(|| Scalar::I64(a.value(row))),
        Bound::F64(a) => a.is_valid(row).then(|| Scalar::F64(a.value(row))),
        Bound::Str(a) => a.is_valid(row).then(|| Scalar::Str(a.value(row).to_string())),
    }
}

#[inline]
fn is_valid(bound: &Bound, row: usize) -> bool {
    match bound {
        Bound::None => true,
        Bound::User(a) => a.is_valid(row),
        Bound::I64(a) => a.is_valid(row),
        Bound::F64(a) => a.is_valid(row),
        Bound::Str(a) => a.is_valid(row),
    }
}

/// Whether `new` beats `current` for a min (`max == false`) or max. NaN never wins.
fn better(new: &Scalar, current: &Scalar, max: bool) -> bool {
    match new.partial_cmp(current) {
        Some(std::cmp::Ordering::Less) => !max,
        Some(std::cmp::Ordering::Greater) => max,
        _ => false,
    }
}

fn merge_extreme(value: &mut Option<Scalar>, candidate: Option<&Scalar>, max: bool) {
    if let Some(c) = candidate {
        let nan = matches!(c, Scalar::F64(x) if x.is_nan());
        match value {
            Some(v) if !better(c, v, max) => {}
            _ if nan => {}
            _ => *value = Some(c.clone()),
        }
    }
}

fn merge_positional(value: &mut Option<(i64, Scalar)>, ts: i64, candidate: &Scalar, last: bool) {
    let replace = match value {
        None => true,
        Some((cur, _)) => {
            if last {
                ts >= *cur
            } else {
                ts < *cur
            }
        }
    };
    if replace {
        *value = Some((ts, candidate.clone()));
    }
}

impl Aggregate for RowAggs {
    type Input<'a> = RowRef<'a>;
    type Acc = Vec<Slot>;
    type Output = Vec<Slot>;

    fn init(&self) -> Vec<Slot> {
        self.resolved
            .iter()
            .map(|r| {
                let vt = r.input.map(|(_, t)| t);
                match r.func {
                    AggFunc::User => r.user.as_ref().map_or(Slot::Count(0), |(u, _)| user_slot(u)),
                    AggFunc::Count => Slot::Count(0),
                    AggFunc::Sum if vt == Some(ValueType::F64) => Slot::SumF(0.0),
                    AggFunc::Sum => Slot::SumI(0),
                    AggFunc::Min => Slot::Extreme { max: false, value: None },
                    AggFunc::Max => Slot::Extreme { max: true, value: None },
                    AggFunc::Avg => Slot::Avg(0.0, 0),
                    AggFunc::CountDistinct if vt == Some(ValueType::Str) => Slot::DistinctS(HashSet::new()),
                    AggFunc::CountDistinct => Slot::DistinctI(HashSet::new()),
                    AggFunc::First => Slot::Positional { last: false, value: None },
                    AggFunc::Last => Slot::Positional { last: true, value: None },
                }
            })
            .collect()
    }

    #[inline]
    fn add(&self, acc: &mut Vec<Slot>, input: RowRef<'_>) {
        let row = input.row;
        for (slot, bound) in acc.iter_mut().zip(input.inputs) {
            match (slot, bound) {
                (Slot::Count(n), b) => *n += i64::from(is_valid(b, row)),
                (Slot::SumI(s), Bound::I64(a)) if a.is_valid(row) => *s = s.wrapping_add(a.value(row)),
                (Slot::SumF(s), Bound::F64(a)) if a.is_valid(row) => *s += a.value(row),
                (Slot::Avg(s, n), Bound::I64(a)) if a.is_valid(row) => {
                    *s += a.value(row) as f64;
                    *n += 1;
                }
                (Slot::Avg(s, n), Bound::F64(a)) if a.is_valid(row) => {
                    *s += a.value(row);
                    *n += 1;
                }
                (Slot::DistinctI(set), Bound::I64(a)) if a.is_valid(row) => {
                    set.insert(a.value(row));
                }
                (Slot::DistinctS(set), Bound::Str(a)) if a.is_valid(row) => {
                    let v = a.value(row);
                    if !set.contains(v) {
                        set.insert(v.to_string());
                    }
                }
                (Slot::Extreme { max, value }, Bound::Str(a)) if a.is_valid(row) => {
                    let v = a.value(row);
                    let wins = match value {
                        Some(Scalar::Str(cur)) => (*max && v > cur.as_str()) || (!*max && v < cur.as_str()),
                        _ => true,
                    };
                    if wins {
                        *value = Some(Scalar::Str(v.to_string()));
                    }
                }
                (Slot::Extreme { max, value }, b) => merge_extreme(value, read(b, row).as_ref(), *max),
                (Slot::Positional { last, value }, b) => {
                    if let Some(v) = read(b, row) {
                        merge_positional(value, input.ts, &v, *last);
                    }
                }
                (Slot::User(u), Bound::User(col)) => u.agg.0.add(&mut u.acc, col.as_ref(), row),
                _ => {}
            }
        }
    }

    fn merge(&self, acc: &mut Vec<Slot>, other: &Vec<Slot>) {
        for (slot, other) in acc.iter_mut().zip(other) {
            match (slot, other) {
                (Slot::Count(a), Slot::Count(b)) => *a += b,
                (Slot::SumI(a), Slot::SumI(b)) => *a = a.wrapping_add(*b),
                (Slot::SumF(a), Slot::SumF(b)) => *a += b,
                (Slot::Avg(s, n), Slot::Avg(s2, n2)) => {
                    *s += s2;
                    *n += n2;
                }
                (Slot::DistinctI(a), Slot::DistinctI(b)) => a.extend(b),
                (Slot::DistinctS(a), Slot::DistinctS(b)) => a.extend(b.iter().cloned()),
                (Slot::Extreme { max, value }, Slot::Extreme { value: other, .. }) => {
                    merge_extreme(value, other.as_ref(), *max);
                }
                (Slot::Positional { last, value }, Slot::Positional { value: Some((ts, v)), .. }) => {
                    merge_positional(value, *ts, v, *last);
                }
                (Slot::User(a), Slot::User(b)) => a.agg.0.merge(&mut a.acc, &b.acc),
                _ => {}
            }
        }
    }

    fn finish(&self, acc: Vec<Slot>) -> Vec<Slot> {
        acc
    }

    fn acc_heap_bytes(&self, acc: &Vec<Slot>) -> usize {
        acc.capacity() * std::mem::size_of::<Slot>()
            + acc
                .iter()
                .map(|s| match s {
                    Slot::DistinctI(set) => set.capacity() * 16,
                    Slot::DistinctS(set) => set.iter().map(|v| v.capacity() + 32).sum(),
                    Slot::User(u) => u.agg.0.acc_heap_bytes(&u.acc),
                    _ => 0,
                })
                .sum::<usize>()
    }
}
