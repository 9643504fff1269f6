//! User-defined aggregates over one Arrow column, in a [`Pipeline`](crate::Pipeline).
//!
//! Any [`Aggregate`] whose input is a value of one column — `i64` (Int64), `f64` (Float64),
//! `&str` (Utf8) or `bool` (Boolean) — and whose output converts to an Arrow column ([`IntoArrow`]:
//! integers, floats, `String`, `bool`, and `Option`s of them for nullable output) becomes an
//! [`AggExpr`] with [`udaf`]. Null input values are skipped, as in SQL aggregates.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use arrow_array::cast::AsArray;
//! use arrow_array::types::UInt64Type;
//! use arrow_array::{Int64Array, RecordBatch, StringArray};
//! use sluice_dataflow::aggregate::Aggregate;
//! use sluice_dataflow::memory::{CollectSink, VecSource};
//! use sluice_dataflow::ops::{count, udaf};
//! use sluice_dataflow::window::WindowSpec;
//! use sluice_dataflow::Pipeline;
//!
//! /// Counts the requests slower than a threshold.
//! struct SlowRequests {
//!     threshold_ms: i64,
//! }
//!
//! impl Aggregate for SlowRequests {
//!     type Input<'a> = i64;
//!     type Acc = u64;
//!     type Output = u64;
//!
//!     fn init(&self) -> u64 {
//!         0
//!     }
//!     fn add(&self, acc: &mut u64, latency_ms: i64) {
//!         *acc += u64::from(latency_ms > self.threshold_ms);
//!     }
//!     fn merge(&self, acc: &mut u64, other: &u64) {
//!         *acc += other;
//!     }
//!     fn finish(&self, acc: u64) -> u64 {
//!         acc
//!     }
//! }
//!
//! let batch = RecordBatch::try_from_iter([
//!     ("url", Arc::new(StringArray::from(vec!["/a", "/a", "/b", "/a"])) as _),
//!     ("ts", Arc::new(Int64Array::from(vec![1_000, 2_000, 3_000, 4_000])) as _),
//!     ("latency_ms", Arc::new(Int64Array::from(vec![120, 300, 90, 800])) as _),
//! ])?;
//! let results = CollectSink::new();
//! Pipeline::new("slow_requests")
//!     .source(VecSource::new(batch.schema(), vec![vec![batch]])?)
//!     .event_time("ts", Duration::from_secs(5))
//!     .key_by(["url"])
//!     .window(WindowSpec::tumbling(60_000)?)
//!     .aggregate([count().as_("requests"), udaf("latency_ms", SlowRequests { threshold_ms: 250 }).as_("slow")])
//!     .sink(results.clone())
//!     .run()?;
//! let mut rows: Vec<(String, u64)> = Vec::new();
//! for b in results.batches() {
//!     for r in 0..b.num_rows() {
//!         let url = b.column_by_name("url").expect("url").as_string::<i32>().value(r).to_string();
//!         rows.push((url, b.column_by_name("slow").expect("slow").as_primitive::<UInt64Type>().value(r)));
//!     }
//! }
//! rows.sort();
//! assert_eq!(rows, [("/a".to_string(), 2), ("/b".to_string(), 0)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Type erasure
//!
//! The window operator's aggregate list is known only at run time, so a user aggregate is kept
//! behind the object-safe [`ErasedAggregate`], and its accumulator in [`Slot::User`] as a
//! [`UserAcc`]: a boxed `Clone + Send + Debug` value, plain data like the built-ins' state.
//! **Serialization hook:** snapshots of window state (the exactly-once issue) will encode
//! accumulators through [`ErasedAggregate::encode_acc`]; today it returns `None` (no codec), and a
//! user aggregate will opt in by supplying one (say, serde) when snapshots land.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, StringArray,
    UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Schema};

use super::aggs::{AggExpr, AggFunc, Slot};
use crate::aggregate::Aggregate;
use crate::error::{DataflowError, Result};

/// A value an aggregate can read from one row of an Arrow column.
pub trait FromArrow<'a>: Sized {
    /// The column type it reads.
    fn data_type() -> DataType;
    /// The value at `row`, `None` if null (or if `array` is not of [`data_type`](Self::data_type),
    /// which the operator checks when it binds the schema).
    fn read(array: &'a dyn Array, row: usize) -> Option<Self>;
}

impl<'a> FromArrow<'a> for i64 {
    fn data_type() -> DataType {
        DataType::Int64
    }
    #[inline]
    fn read(array: &'a dyn Array, row: usize) -> Option<Self> {
        let a = array.as_primitive_opt::<Int64Type>()?;
        a.is_valid(row).then(|| a.value(row))
    }
}

impl<'a> FromArrow<'a> for f64 {
    fn data_type() -> DataType {
        DataType::Float64
    }
    #[inline]
    fn read(array: &'a dyn Array, row: usize) -> Option<Self> {
        let a = array.as_primitive_opt::<Float64Type>()?;
        a.is_valid(row).then(|| a.value(row))
    }
}

impl<'a> FromArrow<'a> for &'a str {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    #[inline]
    fn read(array: &'a dyn Array, row: usize) -> Option<Self> {
        let a = array.as_string_opt::<i32>()?;
        a.is_valid(row).then(|| a.value(row))
    }
}

impl<'a> FromArrow<'a> for bool {
    fn data_type() -> DataType {
        DataType::Boolean
    }
    #[inline]
    fn read(array: &'a dyn Array, row: usize) -> Option<Self> {
        let a = array.as_boolean_opt()?;
        a.is_valid(row).then(|| a.value(row))
    }
}

/// An aggregate's output type, as an Arrow column.
pub trait IntoArrow: Sized {
    /// The column type.
    fn data_type() -> DataType;
    /// Whether the column may hold nulls.
    fn nullable() -> bool {
        false
    }
    /// The column of `values`.
    fn column(values: Vec<Self>) -> ArrayRef;
}

macro_rules! into_arrow {
    ($($t:ty => $dt:expr, $array:ty;)*) => {$(
        impl IntoArrow for $t {
            fn data_type() -> DataType {
                $dt
            }
            fn column(values: Vec<Self>) -> ArrayRef {
                Arc::new(<$array>::from(values))
            }
        }
        impl IntoArrow for Option<$t> {
            fn data_type() -> DataType {
                $dt
            }
            fn nullable() -> bool {
                true
            }
            fn column(values: Vec<Self>) -> ArrayRef {
                Arc::new(<$array>::from(values))
            }
        }
    )*};
}

into_arrow! {
    i64 => DataType::Int64, Int64Array;
    i32 => DataType::Int32, Int32Array;
    u64 => DataType::UInt64, UInt64Array;
    u32 => DataType::UInt32, UInt32Array;
    f64 => DataType::Float64, Float64Array;
    f32 => DataType::Float32, Float32Array;
    bool => DataType::Boolean, BooleanArray;
    String => DataType::Utf8, StringArray;
}

/// A type-erased accumulator: any `Clone + Send + Debug` value.
pub struct UserAcc(Box<dyn AccValue>);

trait AccValue: Send + Debug {
    fn clone_box(&self) -> Box<dyn AccValue>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Clone + Send + Debug + 'static> AccValue for T {
    fn clone_box(&self) -> Box<dyn AccValue> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

impl Clone for UserAcc {
    fn clone(&self) -> Self {
        UserAcc(self.0.clone_box())
    }
}

impl Debug for UserAcc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl UserAcc {
    /// Wraps an accumulator.
    pub fn new<T: Clone + Send + Debug + 'static>(acc: T) -> Self {
        UserAcc(Box::new(acc))
    }

    /// The accumulator, if it is a `T`.
    #[must_use]
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }

    /// The accumulator, mutably, if it is a `T`.
    pub fn downcast_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.0.as_any_mut().downcast_mut()
    }

    /// The accumulator by value, or `self` back if it is not a `T`.
    ///
    /// # Errors
    /// `self`, unchanged, if the accumulator is not a `T`.
    pub fn downcast<T: 'static>(self) -> Result<T, Self> {
        if self.downcast_ref::<T>().is_none() {
            return Err(self);
        }
        self.0.into_any().downcast().map(|b| *b).map_err(|_| UserAcc(Box::new(())))
    }
}

/// A user aggregate behind a trait object: what the window operator calls.
pub trait ErasedAggregate: Send + Sync {
    /// The input column type.
    fn input_type(&self) -> DataType;
    /// The output column type and whether it is nullable.
    fn output_type(&self) -> (DataType, bool);
    /// An empty accumulator.
    fn init(&self) -> UserAcc;
    /// Folds the value of `column` at `row` into `acc` (nothing if null).
    fn add(&self, acc: &mut UserAcc, column: &dyn Array, row: usize);
    /// Folds `other` into `acc`.
    fn merge(&self, acc: &mut UserAcc, other: &UserAcc);
    /// The output column of finished accumulators (one per output row).
    fn column(&self, accs: Vec<UserAcc>) -> ArrayRef;
    /// Heap bytes owned by `acc`.
    fn acc_heap_bytes(&self, acc: &UserAcc) -> usize;
    /// Serialization hook for snapshots: the accumulator's bytes, or `None` when the aggregate
    /// has no codec (today, every user aggregate).
    fn encode_acc(&self, acc: &UserAcc) -> Option<Vec<u8>> {
        let _ = acc;
        None
    }
}

/// The erased form of `A`.
struct Erased<A>(A);

impl<A> ErasedAggregate for Erased<A>
where
    A: Aggregate + Send + Sync + 'static,
    for<'a> A::Input<'a>: FromArrow<'a>,
    A::Acc: Clone + Send + Debug + 'static,
    A::Output: IntoArrow,
{
    fn input_type(&self) -> DataType {
        <A::Input<'static> as FromArrow<'static>>::data_type()
    }

    fn output_type(&self) -> (DataType, bool) {
        (A::Output::data_type(), A::Output::nullable())
    }

    fn init(&self) -> UserAcc {
        UserAcc::new(self.0.init())
    }

    #[inline]
    fn add(&self, acc: &mut UserAcc, column: &dyn Array, row: usize) {
        if let (Some(acc), Some(value)) = (acc.downcast_mut::<A::Acc>(), A::Input::read(column, row)) {
            self.0.add(acc, value);
        }
    }

    fn merge(&self, acc: &mut UserAcc, other: &UserAcc) {
        if let (Some(acc), Some(other)) = (acc.downcast_mut::<A::Acc>(), other.downcast_ref::<A::Acc>()) {
            self.0.merge(acc, other);
        }
    }

    fn column(&self, accs: Vec<UserAcc>) -> ArrayRef {
        let values = accs
            .into_iter()
            .map(|acc| acc.downcast::<A::Acc>().unwrap_or_else(|_| self.0.init()))
            .map(|acc| self.0.finish(acc))
            .collect();
        A::Output::column(values)
    }

    fn acc_heap_bytes(&self, acc: &UserAcc) -> usize {
        std::mem::size_of::<A::Acc>() + acc.downcast_ref::<A::Acc>().map_or(0, |a| self.0.acc_heap_bytes(a))
    }
}

/// A user aggregate in an [`AggExpr`]; compared by identity.
#[derive(Clone)]
pub(crate) struct UserAgg(pub(crate) Arc<dyn ErasedAggregate>);

impl PartialEq for UserAgg {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for UserAgg {}

impl Debug for UserAgg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (output, _) = self.0.output_type();
        write!(f, "UserAgg({} -> {})", self.0.input_type(), output)
    }
}

/// The user aggregate `agg` over `column`, named `udaf_<column>` until renamed with
/// [`as_`](AggExpr::as_). See the [module docs](self) for an example.
#[must_use]
pub fn udaf<A>(column: &str, agg: A) -> AggExpr
where
    A: Aggregate + Send + Sync + 'static,
    for<'a> A::Input<'a>: FromArrow<'a>,
    A::Acc: Clone + Send + Debug + 'static,
    A::Output: IntoArrow,
{
    let mut expr = AggExpr::on(AggFunc::User, "udaf", column);
    expr.user = Some(UserAgg(Arc::new(Erased(agg))));
    expr
}

/// A user aggregate's accumulator in a [`Slot`], with the aggregate that folds it.
#[derive(Clone)]
pub struct UserSlot {
    pub(crate) agg: UserAgg,
    /// The accumulator: plain data (`Clone + Send + Debug`); what a snapshot will hold.
    pub acc: UserAcc,
}

impl Debug for UserSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.acc.fmt(f)
    }
}

/// An empty accumulator slot of a user aggregate.
pub(crate) fn user_slot(agg: &UserAgg) -> Slot {
    Slot::User(UserSlot { agg: agg.clone(), acc: agg.0.init() })
}

/// Checks the input column of user aggregate `expr` against `schema`; returns its index.
pub(crate) fn user_input(expr: &AggExpr, agg: &UserAgg, schema: &Schema) -> Result<(UserAgg, usize)> {
    let Some(col) = &expr.column else {
        return Err(DataflowError::InvalidPipeline(format!("aggregate `{}` needs a column", expr.name)));
    };
    let idx = schema
        .index_of(col)
        .map_err(|_| DataflowError::Schema(format!("aggregate `{}`: no column `{col}`", expr.name)))?;
    let (dt, want) = (schema.field(idx).data_type(), agg.0.input_type());
    if *dt != want {
        return Err(DataflowError::Schema(format!(
            "aggregate `{}`: column `{col}` is {dt}, the aggregate reads {want}",
            expr.name
        )));
    }
    Ok((agg.clone(), idx))
}

/// The output column of user aggregate `agg`, slot `j` of each row.
pub(crate) fn user_column(agg: &UserAgg, rows: &[Vec<Slot>], j: usize) -> ArrayRef {
    let accs = rows
        .iter()
        .map(|r| match r.get(j) {
            Some(Slot::User(u)) => u.acc.clone(),
            _ => agg.0.init(),
        })
        .collect();
    agg.0.column(accs)
}
