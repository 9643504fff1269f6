//! Sluice's streaming core.
//!
//! # Layout
//! - [`time`]: event time, watermarks, per-partition watermark generation and the minimum over
//!   inputs (with idleness).
//! - [`window`]: window assigners (tumbling, hop, session) and the window aggregation state
//!   machine: which windows an event joins, when a window closes, what is late.
//! - [`aggregate`]: the aggregate functions (count, sum, min, max, avg, count distinct,
//!   first/last) and the trait for user-defined ones.
//!
//! These three modules are pure and deterministic: no I/O, no threads, no clock reads (processing
//! time is always a parameter). Given the same records, watermarks and `now` values they produce
//! the same output. The runtime wraps them in batch operators.
//!
//! # Example
//!
//! The whole job through the [`Pipeline`] builder — source, event time, key, window, sink and
//! late output — is `examples/pageviews.rs` (`cargo run -p sluice-dataflow --example pageviews`).
//! Below, the window state on its own: page views per URL in 5-minute tumbling windows, with a
//! count and the number of distinct users in one accumulator:
//!
//! ```
//! use sluice_dataflow::aggregate::{Count, CountDistinct};
//! use sluice_dataflow::time::{BoundedOutOfOrderness, Watermark};
//! use sluice_dataflow::window::{WindowAggregator, WindowSpec, WindowState};
//!
//! let spec = WindowSpec::tumbling(5 * 60_000)?;
//! let agg = (Count, CountDistinct::<str>::new());
//! let mut per_url = WindowAggregator::<String, _>::new(&spec, agg);
//! let mut watermark = BoundedOutOfOrderness::new(5_000)?;
//! let mut rows = Vec::new();
//! for (ts, url, user) in [(1_000, "/a", "ann"), (2_000, "/a", "bob"), (3_000, "/a", "ann")] {
//!     per_url.add_borrowed(url, ts, ((), user)).expect("not late");
//!     per_url.advance(watermark.observe(ts), &mut rows);
//! }
//! per_url.advance(Watermark::MAX, &mut rows);
//! assert_eq!(rows[0].key, "/a");
//! assert_eq!(rows[0].value, (3, 2)); // 3 views by 2 users
//! # Ok::<(), sluice_dataflow::DataflowError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aggregate;
mod error;
pub mod time;
pub mod window;

pub use error::{DataflowError, Result};
pub mod checkpoint;
pub mod clock;
pub mod exchange;
pub mod memory;
pub mod message;
pub mod operator;
pub mod ops;
mod pipeline;
pub mod runtime;
pub mod sink;
pub mod source;

pub use pipeline::Pipeline;
pub use runtime::{Job, JobHandle, JobReport, TwoPhase};
