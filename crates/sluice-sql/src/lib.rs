//! Streaming SQL for Sluice: Flink SQL job files — Flink's DDL and window table-valued
//! functions — planned with DataFusion and run on the dataflow engine, the same operators as
//! the Rust API.
//!
//! # Layout
//! - [`script`]: the file as statements, tokenized once so every token keeps its line and column.
//! - [`ddl`], [`types`], [`interval`]: Flink's `CREATE TABLE` (computed and metadata columns,
//!   `WATERMARK`, `WITH`), parsed over those tokens with sqlparser; [`metadata`]: the
//!   `offset`, `partition` and `timestamp` of a log record as columns (`METADATA`).
//! - [`tvf`]: `TABLE(TUMBLE|HOP|SESSION(...))` replaced by a planning-only table whose schema
//!   is the windowed table's plus `window_start`, `window_end`, `window_time`.
//! - [`catalog`]: tables, views and functions as DataFusion's planner sees them (plus Flink's
//!   `TO_TIMESTAMP_LTZ` from [`functions`]); planning applies type coercion and simplification.
//! - [`translate`] (and the private `aggregate`): the logical plan as pre-window [`steps`]
//!   (DataFusion physical expressions), the keyed window aggregation, post-window steps.
//! - [`compile`]: the whole script checked and planned before anything runs; [`job`]: one
//!   pipeline per INSERT with the [`connector`]s, started together, joined together.
//! - [`settings`]: the `SET` keys that configure the run (checkpoints, the job's name, a
//!   source rate limit); the private `exactly_once` module turns them into each pipeline's
//!   checkpointing, and [`control`] stops a running job or takes its savepoints.
//! - [`error`]: every error has a kind, a position in the file and, where useful, a hint.
//!
//! # Example
//! ```
//! let script = sluice_sql::compile(
//!     "CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
//!        WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
//!      CREATE TABLE counts (window_start TIMESTAMP(3), url STRING, views BIGINT)
//!        WITH ('connector' = 'print');
//!      INSERT INTO counts
//!      SELECT window_start, url, COUNT(*) FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
//!      GROUP BY window_start, window_end, url;",
//! )?;
//! assert!(script.explain().contains("key by: url"));
//!
//! let err = sluice_sql::compile("INSERT INTO counts SELECT * FROM nowhere;").err().expect("unknown table");
//! assert_eq!(err.kind, sluice_sql::ErrorKind::Unknown);
//! # Ok::<(), sluice_sql::SqlError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod adapt;
mod aggregate;
pub mod catalog;
pub mod compile;
pub mod connector;
pub mod control;
pub mod ddl;
pub mod error;
mod exactly_once;
pub mod functions;
pub mod interval;
pub mod job;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod metadata;
#[cfg(feature = "kafka")]
pub mod scale_out;
pub mod script;
pub mod settings;
pub mod steps;
pub mod translate;
pub mod tvf;
pub mod types;

pub use compile::{compile, Insert, Script};
pub use control::JobControl;
pub use error::{ErrorKind, Pos, SqlError};
pub use job::{RunOptions, RunningJob};
