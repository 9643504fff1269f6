//! Sluice's record formats: bytes of JSON lines or CSV in, Arrow record batches out, and
//! batches back out as JSON lines.
//!
//! # Layout
//! - [`JsonDecoder`] and [`CsvDecoder`] turn many records at once into one `RecordBatch` of a
//!   declared schema. A record that cannot be decoded does not stop the others: it comes back as
//!   a [`Rejected`] value, with its [`Position`] (topic/partition@offset, file:line or
//!   stdin:line), the reason and its raw bytes, for the job's dead-letter output. In strict mode
//!   the first such record is an error instead.
//! - [`JsonEncoder`] writes batches as JSON lines, timestamps as `YYYY-MM-DD HH:MM:SS.fff`
//!   (UTC), Flink's JSON default.
//! - [`FormatError`] is the crate's one error type.
//!
//! # How decoding works
//! Arrow's decoders (arrow-json, arrow-csv) do the parsing, in bulk. On top of them this crate
//! checks that each record is exactly one row, enforces NOT NULL fields per record, and when a
//! batch fails, finds the records that fail and decodes the rest (module `reject`). The fields
//! supported are `Int64`, `Float64`, `Utf8`, `Boolean` and `Timestamp(Millisecond, None |
//! "UTC")` (SQL `BIGINT`, `DOUBLE`, `STRING`, `BOOLEAN`, `TIMESTAMP(3)`).
//!
//! Timestamps decode from epoch milliseconds (integers) and from RFC 3339 or
//! `YYYY-MM-DD HH:MM:SS[.fff]` strings, read as UTC when they carry no offset.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod csv;
mod error;
pub mod json;
mod position;
mod reject;
mod schema;

pub use csv::CsvDecoder;
pub use error::{FormatError, Result};
pub use json::decoder::JsonDecoder;
pub use json::encoder::JsonEncoder;
pub use position::Position;
pub use reject::{Decoded, Rejected};
