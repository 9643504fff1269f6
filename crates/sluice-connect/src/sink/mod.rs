//! Sinks: JSON lines to stdout, a file or a directory of part files, and records appended to a
//! topic of the log.
//!
//! Delivery with checkpoints: [`PartFileSink`] and a [`LogSink`] made
//! [`exactly_once`](LogSink::exactly_once) take part in the checkpoints' two-phase commit, so
//! their readers see every row exactly once across restarts. [`StdoutSink`], [`FileSink`] and a
//! plain `LogSink` are at-least-once: after a restart from a checkpoint they write again the
//! rows that followed it.
//!
//! Every sink encodes rows with `sluice-format`'s [`JsonEncoder`](sluice_format::JsonEncoder):
//! one JSON object per row, fields in schema order, timestamps as `YYYY-MM-DD HH:MM:SS.fff`
//! (UTC). Each keeps one encoding buffer and reuses it for every batch.

mod json_lines;
mod log;
mod log_txn;
mod part_files;

pub use json_lines::{FileSink, StdoutSink};
pub use log::LogSink;
pub use part_files::PartFileSink;
