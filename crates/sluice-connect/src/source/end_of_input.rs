//! [`EndOfInput`]: the signal that ends a [`LogSource`](super::LogSource) following the tail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Tells a following [`LogSource`] that nothing more will be appended: read to the current end
/// offsets, then end. Cheap to clone; clones share the signal.
#[derive(Debug, Clone, Default)]
pub struct EndOfInput(Arc<AtomicBool>);

impl EndOfInput {
    /// A signal not yet given.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives the signal. Call it after the last append returned.
    pub fn signal(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the signal was given.
    #[must_use]
    pub fn is_signalled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
