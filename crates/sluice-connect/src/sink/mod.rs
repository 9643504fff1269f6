//! Sinks: JSON lines to stdout or a file, and records appended to a topic of the log.
//!
//! Every sink encodes rows with `sluice-format`'s [`JsonEncoder`](sluice_format::JsonEncoder):
//! one JSON object per row, fields in schema order, timestamps as `YYYY-MM-DD HH:MM:SS.fff`
//! (UTC). Each keeps one encoding buffer and reuses it for every batch.

mod json_lines;
mod log;

pub use json_lines::{FileSink, StdoutSink};
pub use log::LogSink;
