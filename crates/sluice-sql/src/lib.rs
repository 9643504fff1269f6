//! Streaming SQL for Sluice: Flink-style DDL and window table functions, planned with
//! DataFusion and run on the dataflow engine.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod aggregate;
pub mod catalog;
pub mod compile;
pub mod connector;
pub mod ddl;
pub mod error;
pub mod functions;
pub mod interval;
pub mod job;
pub mod script;
pub mod steps;
pub mod translate;
pub mod tvf;
pub mod types;

pub use compile::{compile, Insert, Script};
pub use error::{ErrorKind, Pos, SqlError};
pub use job::{RunOptions, RunningJob};
