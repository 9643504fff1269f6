//! Replaces each batch by a function of it.

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::error::Result;
use crate::operator::{Collector, Context, Operator};

/// A batch-to-batch function, shared by the parallel instances of the map.
pub type MapFn = Arc<dyn Fn(RecordBatch) -> Result<RecordBatch> + Send + Sync>;

/// Applies a function to each batch (projection, derived columns, renames). Stateless:
/// watermarks pass through. The function must keep the event-time column if a window follows.
#[derive(Clone)]
pub struct Map {
    f: MapFn,
}

impl Map {
    /// A map over `f`.
    pub fn new(f: impl Fn(RecordBatch) -> Result<RecordBatch> + Send + Sync + 'static) -> Self {
        Map { f: Arc::new(f) }
    }

    /// A map over a shared function.
    #[must_use]
    pub fn from_shared(f: MapFn) -> Self {
        Map { f }
    }
}

impl Operator for Map {
    fn process(&mut self, batch: RecordBatch, _ctx: &mut Context, out: &mut Collector) -> Result<()> {
        out.emit((self.f)(batch)?);
        Ok(())
    }
}
