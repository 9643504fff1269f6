//! Keyed window aggregation over Arrow batches.
//!
//! [`WindowAggregate`] wraps the [`WindowAggregator`] of [`crate::window`]: per batch it binds
//! the key, event-time and aggregate columns once, matches the aggregator's variant once, and
//! runs a loop generic over [`WindowState`] over the rows — no dispatch per row.
//!
//! - **Keys.** A single Utf8 key column is kept as `String` and added with
//!   [`add_borrowed`](WindowState::add_borrowed) (the key is copied only when new in its
//!   window). Any other key (several columns, other types) is encoded with `arrow-row` into
//!   comparable bytes and decoded back to the original columns on output.
//! - **Event time** is read from an Int64 or Timestamp(Millisecond) column; in processing-time
//!   mode from [`Context::now`](crate::operator::Context).
//! - **Output** rows: `window_start`, `window_end` (Timestamp(ms)), the key columns, then one
//!   column per aggregate, emitted when the watermark closes the window.
//! - **Late rows** go to the [`LATE`] side output with their original columns plus a
//!   `late_reason` Utf8 column. Rows with a null key or null event time go there too, with the
//!   reason saying so: nothing is dropped silently.
//! - **Two-phase aggregation.** With event time and tumbling or hop windows, the runtime runs a
//!   [`LocalAggregate`] in each source task: rows certainly on time are pre-aggregated there per
//!   pane and key, and arrive here as a [`Partial`] that
//!   [`process_partial`](Operator::process_partial) merges into the panes; the other rows arrive
//!   raw and are judged here as usual. The output is the same (see
//!   [`LocalPanes`](crate::window::LocalPanes)); sessions always arrive raw.

mod aggs;
mod checkpoint;
mod local;
mod snapshot;
pub mod udaf;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow_select::take::take_record_batch;

use aggs::Bound;
pub use aggs::{
    avg, count, count_col, count_distinct, first, last, max, min, sum, AggExpr, AggFunc, RowAggs, RowRef,
    Scalar, Slot,
};
pub(crate) use local::LocalAggregate;
pub use local::Partial;
use local::PartialPanes;
pub use udaf::{udaf, UserSlot};

use crate::error::{DataflowError, Result};
use crate::message::LATE;
use crate::operator::{Collector, Context, Operator, StateScope};
use crate::time::Watermark;
use crate::window::{WindowAggregator, WindowResult, WindowSpec, WindowState};

/// Where a row's event time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSource {
    /// An Int64 or Timestamp(Millisecond) column.
    Column(String),
    /// The processing time of the step ([`Context::now`]).
    ProcessingTime,
}

/// Keyed window aggregation; see the [module docs](self).
pub struct WindowAggregate {
    spec: WindowSpec,
    keys: Vec<String>,
    time: TimeSource,
    exprs: Vec<AggExpr>,
    /// Bound on the first batch.
    state: Option<Bound_>,
    results_str: Vec<WindowResult<String, Vec<Slot>>>,
    results_row: Vec<WindowResult<Vec<u8>, Vec<Slot>>>,
    /// The input watermark, kept from before the state is bound: a keyed task can see
    /// watermarks before its first rows, and its state must start at the watermark, not at
    /// `Watermark::MIN` (or rows that are late would be accepted).
    watermark: Watermark,
}

/// State bound to the input schema.
struct Bound_ {
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    late_schema: SchemaRef,
    time_col: Option<usize>,
    key_cols: Vec<usize>,
    aggs: RowAggs,
    keyed: Keyed,
}

enum Keyed {
    Str(WindowAggregator<String, RowAggs, ahash::RandomState>),
    Rows(WindowAggregator<Vec<u8>, RowAggs, ahash::RandomState>, RowConverter),
}

impl WindowAggregate {
    /// Aggregates `exprs` per `keys` in the windows of `spec`, with event time from `time`.
    #[must_use]
    pub fn new(spec: WindowSpec, keys: Vec<String>, time: TimeSource, exprs: Vec<AggExpr>) -> Self {
        WindowAggregate {
            spec,
            keys,
            time,
            exprs,
            state: None,
            results_str: Vec::new(),
            results_row: Vec::new(),
            watermark: Watermark::MIN,
        }
    }

    fn bind(&mut self, schema: &SchemaRef) -> Result<()> {
        if let Some(b) = &self.state {
            if b.input_schema.fields() == schema.fields() {
                return Ok(());
            }
            return Err(DataflowError::Schema(format!(
                "input schema changed mid-stream: {:?} then {:?}",
                b.input_schema, schema
            )));
        }
        let time_col = match &self.time {
            TimeSource::ProcessingTime => None,
            TimeSource::Column(name) => {
                let idx = schema
                    .index_of(name)
                    .map_err(|_| DataflowError::Schema(format!("no event-time column `{name}`")))?;
                match schema.field(idx).data_type() {
                    DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _) => Some(idx),
                    dt => {
                        return Err(DataflowError::Schema(format!(
                            "event-time column `{name}` must be Int64 or Timestamp(ms), not {dt}"
                        )))
                    }
                }
            }
        };
        if self.keys.is_empty() {
            return Err(DataflowError::InvalidPipeline(
                "window aggregate needs at least one key column".into(),
            ));
        }
        let key_cols = self
            .keys
            .iter()
            .map(|k| schema.index_of(k).map_err(|_| DataflowError::Schema(format!("no key column `{k}`"))))
            .collect::<Result<Vec<_>>>()?;
        let aggs = RowAggs::resolve(&self.exprs, schema)?;
        let key_fields: Vec<Field> =
            key_cols.iter().map(|&i| schema.field(i).clone().with_nullable(false)).collect();
        let mut keyed = match key_fields.as_slice() {
            [f] if f.data_type() == &DataType::Utf8 => {
                Keyed::Str(WindowAggregator::new(&self.spec, aggs.clone()))
            }
            _ => {
                let sort = key_fields.iter().map(|f| SortField::new(f.data_type().clone())).collect();
                Keyed::Rows(WindowAggregator::new(&self.spec, aggs.clone()), RowConverter::new(sort)?)
            }
        };
        // Empty state: this emits nothing, it only moves the state to the input watermark.
        match &mut keyed {
            Keyed::Str(state) => state.advance(self.watermark, &mut self.results_str),
            Keyed::Rows(state, _) => state.advance(self.watermark, &mut self.results_row),
        }
        let ts_type = DataType::Timestamp(TimeUnit::Millisecond, None);
        let mut fields = vec![
            Field::new("window_start", ts_type.clone(), false),
            Field::new("window_end", ts_type, false),
        ];
        fields.extend(key_fields);
        fields.extend(aggs.fields());
        let mut late_fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
        late_fields.push(Arc::new(Field::new("late_reason", DataType::Utf8, false)));
        self.state = Some(Bound_ {
            input_schema: Arc::clone(schema),
            output_schema: Arc::new(Schema::new(fields)),
            late_schema: Arc::new(Schema::new(late_fields)),
            time_col,
            key_cols,
            aggs,
            keyed,
        });
        Ok(())
    }

    /// The output schema, once the first batch has been seen.
    #[must_use]
    pub fn output_schema(&self) -> Option<SchemaRef> {
        self.state.as_ref().map(|b| Arc::clone(&b.output_schema))
    }
}

/// Rows rejected from one batch: index and reason.
#[derive(Default)]
struct Rejected {
    rows: Vec<u32>,
    reasons: Vec<String>,
}

impl Rejected {
    fn push(&mut self, row: usize, reason: String) {
        self.rows.push(u32::try_from(row).unwrap_or(u32::MAX));
        self.reasons.push(reason);
    }
}

/// Adds the rows of one batch with `String` keys. Generic over the state so it is monomorphized
/// per variant.
fn add_str<W: WindowState<String, RowAggs>>(
    state: &mut W,
    keys: &StringArray,
    times: &Times<'_>,
    inputs: &[Bound],
    rejected: &mut Rejected,
) {
    for row in 0..keys.len() {
        let Some(ts) = times.get(row) else {
            rejected.push(row, "null event time".into());
            continue;
        };
        if keys.is_null(row) {
            rejected.push(row, "null key".into());
            continue;
        }
        if let Err(late) = state.add_borrowed(keys.value(row), ts, RowRef::new(inputs, row, ts)) {
            rejected.push(row, late.to_string());
        }
    }
}

/// Adds the rows of one batch with row-encoded keys.
fn add_rows<W: WindowState<Vec<u8>, RowAggs>>(
    state: &mut W,
    keys: &arrow_row::Rows,
    key_valid: &[bool],
    times: &Times<'_>,
    inputs: &[Bound],
    rejected: &mut Rejected,
) {
    for (row, key) in keys.iter().enumerate() {
        let Some(ts) = times.get(row) else {
            rejected.push(row, "null event time".into());
            continue;
        };
        if !key_valid.get(row).copied().unwrap_or(false) {
            rejected.push(row, "null key".into());
            continue;
        }
        let bytes: &[u8] = key.as_ref();
        if let Err(late) = state.add_borrowed(bytes, ts, RowRef::new(inputs, row, ts)) {
            rejected.push(row, late.to_string());
        }
    }
}

/// Event times of a batch.
enum Times<'a> {
    /// Values, and the column when it has nulls.
    Column(&'a [i64], Option<&'a ArrayRef>),
    Constant(i64),
}

impl Times<'_> {
    #[inline]
    fn get(&self, row: usize) -> Option<i64> {
        match self {
            Times::Column(values, None) => values.get(row).copied(),
            Times::Column(values, Some(col)) => col.is_valid(row).then(|| values.get(row).copied()).flatten(),
            Times::Constant(ts) => Some(*ts),
        }
    }
}

/// The event-time values of column `idx`, as `i64` ms.
fn time_values(col: &ArrayRef) -> &[i64] {
    match col.data_type() {
        DataType::Timestamp(_, _) => col.as_primitive::<TimestampMillisecondType>().values(),
        _ => col.as_primitive::<Int64Type>().values(),
    }
}

impl Operator for WindowAggregate {
    fn snapshot(&mut self, scope: &StateScope<'_>) -> Result<Option<Vec<u8>>> {
        self.checkpoint(scope)
    }

    fn restore(&mut self, scope: &StateScope<'_>, snapshots: &[(&str, &[u8])]) -> Result<()> {
        self.restore_checkpoint(scope, snapshots)
    }

    fn process(&mut self, batch: RecordBatch, ctx: &mut Context, out: &mut Collector) -> Result<()> {
        self.bind(&batch.schema())?;
        let Some(b) = self.state.as_mut() else { return Ok(()) };
        let inputs = b.aggs.bind(&batch);
        let times = match b.time_col {
            Some(idx) => {
                let col = batch.column(idx);
                Times::Column(time_values(col), (col.null_count() > 0).then_some(col))
            }
            None => Times::Constant(ctx.now),
        };
        let mut rejected = Rejected::default();
        match &mut b.keyed {
            Keyed::Str(state) => {
                let keys = batch.column(b.key_cols.first().copied().unwrap_or(0)).as_string::<i32>();
                match state {
                    WindowAggregator::Aligned(w) => add_str(w, keys, &times, &inputs, &mut rejected),
                    WindowAggregator::Session(w) => add_str(w, keys, &times, &inputs, &mut rejected),
                }
            }
            Keyed::Rows(state, converter) => {
                let cols: Vec<ArrayRef> = b.key_cols.iter().map(|&i| Arc::clone(batch.column(i))).collect();
                let valid: Vec<bool> =
                    (0..batch.num_rows()).map(|r| cols.iter().all(|c| c.is_valid(r))).collect();
                let rows = converter.convert_columns(&cols)?;
                match state {
                    WindowAggregator::Aligned(w) => {
                        add_rows(w, &rows, &valid, &times, &inputs, &mut rejected)
                    }
                    WindowAggregator::Session(w) => {
                        add_rows(w, &rows, &valid, &times, &inputs, &mut rejected)
                    }
                }
            }
        }
        if !rejected.rows.is_empty() {
            let late = take_record_batch(&batch, &UInt32Array::from(rejected.rows))?;
            let mut columns = late.columns().to_vec();
            columns.push(Arc::new(StringArray::from(rejected.reasons)));
            out.side(LATE, RecordBatch::try_new(Arc::clone(&b.late_schema), columns)?);
        }
        Ok(())
    }

    fn approx_state_bytes(&self) -> usize {
        match self.state.as_ref().map(|b| &b.keyed) {
            Some(Keyed::Str(state)) => state.approx_state_bytes(String::capacity),
            Some(Keyed::Rows(state, _)) => state.approx_state_bytes(Vec::capacity),
            None => 0,
        }
    }

    fn process_partial(&mut self, partial: Partial, ctx: &mut Context, out: &mut Collector) -> Result<()> {
        let _ = (ctx, out);
        self.bind(&partial.schema)?;
        let Some(b) = self.state.as_mut() else { return Ok(()) };
        // A refused partial breaks the invariant of `LocalPanes` (it is sent only while every
        // window of its pane is open here): an engine bug, reported rather than dropped.
        let refused = |late: crate::window::Late| {
            DataflowError::InvalidPipeline(format!("two-phase aggregation: partial refused: {late}"))
        };
        match (&mut b.keyed, partial.panes) {
            (Keyed::Str(WindowAggregator::Aligned(w)), PartialPanes::Str(panes)) => {
                for p in panes {
                    w.merge_pane(p.pane_start, p.key, p.acc).map_err(refused)?;
                }
            }
            (Keyed::Rows(WindowAggregator::Aligned(w), _), PartialPanes::Rows(panes)) => {
                for p in panes {
                    w.merge_pane(p.pane_start, p.key, p.acc).map_err(refused)?;
                }
            }
            _ => {
                return Err(DataflowError::InvalidPipeline(
                    "two-phase aggregation: partials do not match this window operator's state".into(),
                ))
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, wm: Watermark, ctx: &mut Context, out: &mut Collector) -> Result<()> {
        ctx.watermark = Some(wm);
        self.watermark = self.watermark.max(wm);
        if let Some(b) = self.state.as_mut() {
            let mut columns: Vec<ArrayRef>;
            let slots: Vec<Vec<Slot>>;
            let (starts, ends): (Vec<i64>, Vec<i64>);
            match &mut b.keyed {
                Keyed::Str(state) => {
                    state.advance(wm, &mut self.results_str);
                    if self.results_str.is_empty() {
                        out.emit_watermark(wm);
                        return Ok(());
                    }
                    let results = std::mem::take(&mut self.results_str);
                    (starts, ends) = results.iter().map(|r| (r.window.start, r.window.end)).unzip();
                    let keys: StringArray = results.iter().map(|r| Some(r.key.as_str())).collect();
                    columns = vec![Arc::new(keys)];
                    slots = results.into_iter().map(|r| r.value).collect();
                }
                Keyed::Rows(state, converter) => {
                    state.advance(wm, &mut self.results_row);
                    if self.results_row.is_empty() {
                        out.emit_watermark(wm);
                        return Ok(());
                    }
                    let results = std::mem::take(&mut self.results_row);
                    (starts, ends) = results.iter().map(|r| (r.window.start, r.window.end)).unzip();
                    let parser = converter.parser();
                    let rows = results.iter().map(|r| parser.parse(&r.key));
                    columns = converter.convert_rows(rows)?;
                    slots = results.into_iter().map(|r| r.value).collect();
                }
            }
            let mut all: Vec<ArrayRef> = vec![
                Arc::new(TimestampMillisecondArray::from(starts)),
                Arc::new(TimestampMillisecondArray::from(ends)),
            ];
            all.append(&mut columns);
            all.extend(b.aggs.columns(&slots));
            out.emit(RecordBatch::try_new(Arc::clone(&b.output_schema), all)?);
        }
        out.emit_watermark(wm);
        Ok(())
    }
}
