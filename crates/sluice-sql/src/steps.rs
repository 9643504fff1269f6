//! The per-batch steps a query compiles to: filters and projections evaluated with DataFusion's
//! physical expressions, and the reshaping of the window operator's output into the columns
//! the query's aggregate produces.

use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, TimestampMillisecondArray,
};
use arrow_cast::cast;
use arrow_schema::{DataType, SchemaRef};
use arrow_select::filter::filter_record_batch;
use arrow_select::nullif::nullif;
use datafusion_common::DFSchema;
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::Expr;
use datafusion_physical_expr::{create_physical_expr, PhysicalExpr};
use sluice_dataflow::DataflowError;

use crate::error::{datafusion_error, Pos, Result};

/// Compiles a logical expression over `schema` into a physical one.
///
/// # Errors
/// If DataFusion cannot (an unsupported expression), with `pos` as fallback position.
pub fn compile(expr: &Expr, schema: &DFSchema, pos: Pos) -> Result<Arc<dyn PhysicalExpr>> {
    create_physical_expr(expr, schema, &ExecutionProps::new(), &PhysicalPlanningContext::default())
        .map_err(|e| datafusion_error(&e, pos))
}

fn df(e: &datafusion_common::DataFusionError) -> DataflowError {
    DataflowError::Arrow(e.to_string())
}

/// Where a reshaped column comes from.
#[derive(Debug, Clone)]
pub enum Reshape {
    /// Column `i` of the input.
    Column(usize),
    /// `window_end - 1 ms` (Flink's `window_time`) from the input's `window_end` column `i`.
    WindowTime(usize),
    /// Column `value`, null where the Int64 column `count` is 0 (SQL's SUM of no values).
    NullIfNoValues {
        /// The aggregate's column.
        value: usize,
        /// The count of its non-null inputs.
        count: usize,
    },
}

/// One per-batch step.
#[derive(Clone)]
pub enum Step {
    /// Keeps the rows where the predicate is true.
    Filter {
        /// The SQL text, for `explain`.
        text: String,
        /// The predicate.
        predicate: Arc<dyn PhysicalExpr>,
    },
    /// Computes new columns; each is cast to its field's type if it differs.
    Map {
        /// The SQL text, for `explain`.
        text: String,
        /// One expression per output field.
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        /// The output schema.
        schema: SchemaRef,
    },
    /// Picks and casts columns (no expression evaluation).
    Reshape {
        /// The SQL text, for `explain`.
        text: String,
        /// One source per output field.
        columns: Vec<Reshape>,
        /// The output schema.
        schema: SchemaRef,
    },
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl Step {
    /// The step as text, for `explain`.
    #[must_use]
    pub fn text(&self) -> &str {
        match self {
            Step::Filter { text, .. } | Step::Map { text, .. } | Step::Reshape { text, .. } => text,
        }
    }

    /// The schema the step produces, if it changes it (filters do not).
    #[must_use]
    pub fn output_schema(&self) -> Option<SchemaRef> {
        match self {
            Step::Filter { .. } => None,
            Step::Map { schema, .. } | Step::Reshape { schema, .. } => Some(Arc::clone(schema)),
        }
    }

    /// The rows of `batch` the filter keeps (filters only; others return all true).
    ///
    /// # Errors
    /// An evaluation error.
    pub fn mask(&self, batch: &RecordBatch) -> Result<BooleanArray, DataflowError> {
        match self {
            Step::Filter { predicate, .. } => {
                let v = predicate.evaluate(batch).map_err(|e| df(&e))?;
                let a = v.into_array(batch.num_rows()).map_err(|e| df(&e))?;
                match a.as_boolean_opt() {
                    Some(b) => Ok(b.clone()),
                    None => {
                        Err(DataflowError::Schema(format!("filter returned {}, not BOOLEAN", a.data_type())))
                    }
                }
            }
            _ => Ok(BooleanArray::from(vec![true; batch.num_rows()])),
        }
    }

    /// Applies the step to one batch.
    ///
    /// # Errors
    /// An evaluation or cast error.
    pub fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, DataflowError> {
        match self {
            Step::Filter { .. } => {
                let mask = self.mask(&batch)?;
                if mask.null_count() == 0 && mask.true_count() == mask.len() {
                    return Ok(batch);
                }
                Ok(filter_record_batch(&batch, &mask)?)
            }
            Step::Map { exprs, schema, .. } => {
                let rows = batch.num_rows();
                let mut columns = Vec::with_capacity(exprs.len());
                for (e, field) in exprs.iter().zip(schema.fields()) {
                    let v = e.evaluate(&batch).map_err(|e| df(&e))?;
                    columns.push(cast_to(v.into_array(rows).map_err(|e| df(&e))?, field.data_type())?);
                }
                batch_of(schema, columns, rows)
            }
            Step::Reshape { columns, schema, .. } => {
                let mut out = Vec::with_capacity(columns.len());
                for (c, field) in columns.iter().zip(schema.fields()) {
                    let a = match c {
                        Reshape::Column(i) => Arc::clone(batch.column(*i)),
                        Reshape::WindowTime(i) => {
                            let ends = batch.column(*i).as_primitive::<TimestampMillisecondType>();
                            let times: TimestampMillisecondArray =
                                ends.iter().map(|v| v.map(|v| v - 1)).collect();
                            Arc::new(times)
                        }
                        Reshape::NullIfNoValues { value, count } => {
                            let counts = batch.column(*count).as_primitive::<Int64Type>();
                            let empty = BooleanArray::from_unary(counts, |n| n == 0);
                            nullif(batch.column(*value), &empty)?
                        }
                    };
                    out.push(cast_to(a, field.data_type())?);
                }
                batch_of(schema, out, batch.num_rows())
            }
        }
    }
}

fn cast_to(a: ArrayRef, to: &DataType) -> Result<ArrayRef, DataflowError> {
    if a.data_type() == to {
        Ok(a)
    } else {
        Ok(cast(&a, to)?)
    }
}

fn batch_of(schema: &SchemaRef, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch, DataflowError> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)?)
}
