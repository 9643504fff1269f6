//! The built-in operators, one per file.
//!
//! - [`Filter`]: keeps the rows for which a predicate over the batch is true.
//! - [`Map`]: replaces each batch by a function of it (projection, derived columns).
//! - [`WindowAggregate`]: keyed window aggregation over the colleague modules
//!   [`window`](crate::window) and [`aggregate`](crate::aggregate), with late rows on the
//!   [`LATE`](crate::message::LATE) side output.
//!
//! Key-by is not an operator: it is the keyed exchange between tasks ([`crate::exchange`]).

mod filter;
mod map;
pub mod window_aggregate;

pub use filter::{Filter, Predicate};
pub use map::{Map, MapFn};
pub use window_aggregate::{
    avg, count, count_col, count_distinct, first, last, max, min, sum, udaf, AggExpr, AggFunc,
    WindowAggregate,
};
