//! Keeps the rows for which a predicate is true.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_select::filter::filter_record_batch;

use crate::error::Result;
use crate::operator::{Collector, Context, Operator};

/// A predicate over a whole batch: one boolean per row (null counts as false). Shared by the
/// parallel instances of the filter.
pub type Predicate = Arc<dyn Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync>;

/// Keeps the rows where the predicate is true. Stateless: watermarks pass through.
#[derive(Clone)]
pub struct Filter {
    predicate: Predicate,
}

impl Filter {
    /// A filter over `predicate`.
    pub fn new(predicate: impl Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync + 'static) -> Self {
        Filter { predicate: Arc::new(predicate) }
    }

    /// A filter over a shared predicate.
    #[must_use]
    pub fn from_shared(predicate: Predicate) -> Self {
        Filter { predicate }
    }
}

impl Operator for Filter {
    fn process(&mut self, batch: RecordBatch, _ctx: &mut Context, out: &mut Collector) -> Result<()> {
        let mask = (self.predicate)(&batch)?;
        if mask.len() != batch.num_rows() {
            return Err(crate::DataflowError::Schema(format!(
                "filter predicate returned {} values for {} rows",
                mask.len(),
                batch.num_rows()
            )));
        }
        if mask.null_count() == 0 && mask.true_count() == mask.len() {
            out.emit(batch);
        } else {
            out.emit(filter_record_batch(&batch, &mask)?);
        }
        Ok(())
    }
}
