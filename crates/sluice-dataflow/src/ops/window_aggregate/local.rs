//! Two-phase aggregation, the source side: [`LocalAggregate`] pre-aggregates the rows of a
//! source task that are certainly on time, per pane and key, and hands the partial
//! accumulators ([`Partial`]) to the keyed tasks owning the keys; the rest of the rows travel
//! raw through the keyed exchange as before.
//!
//! Why the results are the same as single-phase is explained in
//! [`crate::window::LocalPanes`]. PERF: at parallelism 2 the keyed exchange (hash, index lists,
//! `take` of every row) cost as much as the window operator itself (`perf`: ~40% of the
//! pipeline threads' samples each), so two cores ran slower than one; with pre-aggregation a
//! source task sends ~one partial per key and pane instead of every row.
//!
//! Open trade-offs: the partials held here are not counted in the job's `state_bytes` (they are
//! at most one accumulator per key and open pane per source task), and a checkpoint barrier
//! (the exactly-once issue) will have to hand them over first ([`LocalAggregate::drain`]) so
//! that a source task holds no window state at a barrier.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use arrow_select::take::take_record_batch;

use super::aggs::{AggExpr, RowAggs, RowRef, Slot};
use super::{time_values, Times};
use crate::error::Result;
use crate::exchange::Exchange;
use crate::time::Watermark;
use crate::window::{LocalPanes, PaneAcc, WindowSpec};

/// Partial accumulators for one keyed task: what a source task's [`LocalAggregate`] hands over.
/// The keyed [`WindowAggregate`](super::WindowAggregate) merges them into its panes.
#[derive(Debug, Clone)]
pub struct Partial {
    /// The schema of the rows that were pre-aggregated (the window operator's input schema).
    pub(crate) schema: SchemaRef,
    pub(crate) panes: PartialPanes,
}

impl Partial {
    /// Number of partial accumulators (one per pane and key).
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.panes {
            PartialPanes::Str(p) => p.len(),
            PartialPanes::Rows(p) => p.len(),
        }
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Partial accumulators by key representation, as in the window operator.
#[derive(Debug, Clone)]
pub(crate) enum PartialPanes {
    Str(Vec<PaneAcc<String, Vec<Slot>>>),
    Rows(Vec<PaneAcc<Vec<u8>, Vec<Slot>>>),
}

/// The pre-aggregation of one source task; see the [module docs](self).
pub(crate) struct LocalAggregate {
    spec: WindowSpec,
    keys: Vec<String>,
    time_column: String,
    exprs: Vec<AggExpr>,
    targets: usize,
    /// Bound on the first batch; `None` before, and for good if binding failed (the keyed
    /// window operator then reports the schema error on the raw rows).
    state: Option<LocalBound>,
    bind_failed: bool,
    /// False once everything was handed over for good (the task went idle).
    enabled: bool,
    /// The largest watermark seen, also before binding: the panes start there.
    watermark: Watermark,
}

struct LocalBound {
    schema: SchemaRef,
    time_col: usize,
    key_cols: Vec<usize>,
    aggs: RowAggs,
    table: Table,
    exchange: Exchange,
}

enum Table {
    Str(LocalPanes<String, RowAggs, ahash::RandomState>),
    Rows(LocalPanes<Vec<u8>, RowAggs, ahash::RandomState>, RowConverter),
}

impl LocalAggregate {
    /// Pre-aggregation for `WindowAggregate::new(spec, keys, TimeSource::Column(time_column),
    /// exprs)` over `targets` keyed tasks. `None` for session windows.
    pub(crate) fn new(
        spec: WindowSpec,
        keys: Vec<String>,
        time_column: String,
        exprs: Vec<AggExpr>,
        targets: usize,
    ) -> Option<Self> {
        if matches!(spec.kind(), crate::window::WindowKind::Session { .. }) {
            return None;
        }
        Some(LocalAggregate {
            spec,
            keys,
            time_column,
            exprs,
            targets,
            state: None,
            bind_failed: false,
            enabled: true,
            watermark: Watermark::MIN,
        })
    }

    /// Starts at `wm` (a restored job's keyed watermark): only rows on time at `wm` are folded.
    pub(crate) fn start_at(&mut self, wm: Watermark) {
        self.watermark = self.watermark.max(wm);
    }

    /// Binds to the first batch's schema; false if pre-aggregation cannot run on it.
    fn bind(&mut self, schema: &SchemaRef) -> bool {
        if let Some(b) = &self.state {
            return b.schema.fields() == schema.fields();
        }
        if self.bind_failed {
            return false;
        }
        self.state = self.try_bind(schema);
        self.bind_failed = self.state.is_none();
        self.state.is_some()
    }

    fn try_bind(&self, schema: &SchemaRef) -> Option<LocalBound> {
        let time_col = schema.index_of(&self.time_column).ok()?;
        if !matches!(
            schema.field(time_col).data_type(),
            DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _)
        ) {
            return None;
        }
        let key_cols = self.keys.iter().map(|k| schema.index_of(k).ok()).collect::<Option<Vec<_>>>()?;
        if key_cols.is_empty() {
            return None;
        }
        let aggs = RowAggs::resolve(&self.exprs, schema).ok()?;
        let types: Vec<DataType> = key_cols.iter().map(|&i| schema.field(i).data_type().clone()).collect();
        let mut table = match types.as_slice() {
            [DataType::Utf8] => Table::Str(LocalPanes::new(&self.spec, aggs.clone())?),
            _ => Table::Rows(
                LocalPanes::new(&self.spec, aggs.clone())?,
                RowConverter::new(types.into_iter().map(SortField::new).collect()).ok()?,
            ),
        };
        let exchange = Exchange::new(schema, &self.keys, self.targets).ok()?;
        // Empty panes: this hands nothing over, it only moves them to the watermark.
        let mut none = Vec::new();
        match &mut table {
            Table::Str(panes) => panes.advance(self.watermark, &mut none),
            Table::Rows(panes, _) => panes.advance(self.watermark, &mut Vec::new()),
        }
        Some(LocalBound { schema: Arc::clone(schema), time_col, key_cols, aggs, table, exchange })
    }

    /// Folds the rows of `batch` that are certainly on time; returns the others (rows that might
    /// be late, rows with a null key or event time), which travel raw. `None` if every row was
    /// taken; and the number of rows taken.
    ///
    /// # Errors
    /// An Arrow error from the key encoding or the `take` of the raw rows.
    pub(crate) fn process(&mut self, batch: RecordBatch) -> Result<(Option<RecordBatch>, usize)> {
        if !self.enabled || !self.bind(&batch.schema()) {
            return Ok((Some(batch), 0));
        }
        let Some(b) = self.state.as_mut() else { return Ok((Some(batch), 0)) };
        let inputs = b.aggs.bind(&batch);
        let col = batch.column(b.time_col);
        let times = Times::Column(time_values(col), (col.null_count() > 0).then_some(col));
        let mut raw = Vec::new();
        match &mut b.table {
            Table::Str(panes) => {
                let keys = batch.column(b.key_cols.first().copied().unwrap_or(0)).as_string::<i32>();
                for row in 0..keys.len() {
                    let taken = match times.get(row) {
                        Some(ts) if keys.is_valid(row) => {
                            panes.add_borrowed(keys.value(row), ts, RowRef::new(&inputs, row, ts))
                        }
                        _ => false,
                    };
                    if !taken {
                        raw.push(row as u32);
                    }
                }
            }
            Table::Rows(panes, converter) => {
                let cols: Vec<ArrayRef> = b.key_cols.iter().map(|&i| Arc::clone(batch.column(i))).collect();
                let rows = converter.convert_columns(&cols)?;
                for (row, key) in rows.iter().enumerate() {
                    let taken = match times.get(row) {
                        Some(ts) if cols.iter().all(|c| c.is_valid(row)) => {
                            let bytes: &[u8] = key.as_ref();
                            panes.add_borrowed(bytes, ts, RowRef::new(&inputs, row, ts))
                        }
                        _ => false,
                    };
                    if !taken {
                        raw.push(row as u32);
                    }
                }
            }
        }
        let taken = batch.num_rows() - raw.len();
        let raw = match raw.len() {
            0 => None,
            n if n == batch.num_rows() => Some(batch),
            _ => Some(take_record_batch(&batch, &UInt32Array::from(raw))?),
        };
        Ok((raw, taken))
    }

    /// Before the source task sends watermark `wm`: the partials of every pane no longer fully
    /// open at `wm`, per keyed task.
    ///
    /// # Errors
    /// An Arrow error from decoding or hashing the keys.
    pub(crate) fn advance(&mut self, wm: Watermark) -> Result<Vec<(usize, Partial)>> {
        self.watermark = self.watermark.max(wm);
        self.hand_over(|table| match table {
            Table::Str(panes) => {
                let mut out = Vec::new();
                panes.advance(wm, &mut out);
                PartialPanes::Str(out)
            }
            Table::Rows(panes, _) => {
                let mut out = Vec::new();
                panes.advance(wm, &mut out);
                PartialPanes::Rows(out)
            }
        })
    }

    /// Before an idleness notice or the end: every partial, per keyed task. After an idleness
    /// notice (`for_good`) pre-aggregation stops: the watermark this task sent no longer bounds
    /// the keyed tasks' (see [`LocalPanes`]).
    ///
    /// # Errors
    /// As [`advance`](Self::advance).
    pub(crate) fn drain(&mut self, for_good: bool) -> Result<Vec<(usize, Partial)>> {
        if for_good {
            self.enabled = false;
        }
        self.hand_over(|table| match table {
            Table::Str(panes) => {
                let mut out = Vec::new();
                panes.drain(&mut out);
                PartialPanes::Str(out)
            }
            Table::Rows(panes, _) => {
                let mut out = Vec::new();
                panes.drain(&mut out);
                PartialPanes::Rows(out)
            }
        })
    }

    /// Takes partials out of the table with `take` and splits them by keyed task, routing each
    /// key exactly as the exchange routes its raw rows.
    fn hand_over(&mut self, take: impl FnOnce(&mut Table) -> PartialPanes) -> Result<Vec<(usize, Partial)>> {
        let Some(b) = self.state.as_mut() else { return Ok(Vec::new()) };
        let panes = take(&mut b.table);
        let key_columns: Vec<ArrayRef> = match (&panes, &b.table) {
            (PartialPanes::Str(p), _) if p.is_empty() => return Ok(Vec::new()),
            (PartialPanes::Rows(p), _) if p.is_empty() => return Ok(Vec::new()),
            (PartialPanes::Str(p), _) => {
                vec![Arc::new(StringArray::from_iter_values(p.iter().map(|p| p.key.as_str())))]
            }
            (PartialPanes::Rows(p), Table::Rows(_, converter)) => {
                let parser = converter.parser();
                converter.convert_rows(p.iter().map(|p| parser.parse(&p.key)))?
            }
            (PartialPanes::Rows(_), Table::Str(_)) => return Ok(Vec::new()),
        };
        let targets = b.exchange.targets(&key_columns)?;
        let split = |n: usize| -> Vec<Partial> {
            (0..n)
                .map(|_| Partial {
                    schema: Arc::clone(&b.schema),
                    panes: match &panes {
                        PartialPanes::Str(_) => PartialPanes::Str(Vec::new()),
                        PartialPanes::Rows(_) => PartialPanes::Rows(Vec::new()),
                    },
                })
                .collect()
        };
        let mut per_target = split(self.targets);
        match panes {
            PartialPanes::Str(p) => {
                for (acc, &t) in p.into_iter().zip(&targets) {
                    if let Some(Partial { panes: PartialPanes::Str(v), .. }) = per_target.get_mut(t) {
                        v.push(acc);
                    }
                }
            }
            PartialPanes::Rows(p) => {
                for (acc, &t) in p.into_iter().zip(&targets) {
                    if let Some(Partial { panes: PartialPanes::Rows(v), .. }) = per_target.get_mut(t) {
                        v.push(acc);
                    }
                }
            }
        }
        Ok(per_target.into_iter().enumerate().filter(|(_, p)| !p.is_empty()).collect())
    }
}
