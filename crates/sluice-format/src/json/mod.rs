//! JSON lines: one JSON object per record.
//!
//! - [`decoder`]: records → `RecordBatch`, rejecting malformed records.
//! - [`encoder`]: `RecordBatch` → JSON lines, timestamps in Flink's SQL format.
//! - `timestamp`: the `YYYY-MM-DD HH:MM:SS.fff` writer the encoder uses.

pub mod decoder;
pub mod encoder;
mod timestamp;
