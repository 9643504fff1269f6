//! Sluice's embedded event log: the single-machine stand-in for Apache Kafka.
//!
//! A [`Log`] is a data directory of topics. A [`Topic`] has a fixed number of partitions; a
//! [`Partition`] is an append-only sequence of records with dense offsets, stored as segment
//! files of checksummed batches with sparse offset and time indexes. Any number of readers run
//! concurrently with the one writer; consumer groups commit offsets durably; transactions
//! append to several partitions atomically.
//!
//! # Layout
//! - [`format`]: file headers, frames and batches — the bytes on disk.
//! - `segment`: one segment file and its recovery; `index`: its sparse indexes.
//! - `partition`: segments, the writer, readers, durability and retention.
//! - `topic`, `log`: naming, configuration and the data directory.
//! - `consumer`, `groups`: reading with start positions and committed offsets.
//! - `txn`: transactions staged outside the partitions and published on commit.
//! - [`partitioner`]: Kafka's murmur2 key partitioner.
//!
//! # Example
//! ```
//! use sluice_log::{Consumer, Log, LogOptions, StartFrom, TopicConfig};
//! use sluice_types::Record;
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), LogOptions::default())?;
//! let views = log.create_topic("page_views", TopicConfig::new(4))?;
//! views.append(vec![Record::new(r#"{"url":"/home"}"#, 1_700_000_000_000).with_key("/home")])?;
//!
//! let mut consumer = Consumer::new(&log, "page_views", None, Some("dashboard"), StartFrom::Committed)?;
//! let records = consumer.poll(100, Duration::from_millis(10))?;
//! assert_eq!(records.len(), 1);
//! consumer.commit()?; // the next run of group "dashboard" starts after this record
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod consumer;
mod durable;
mod error;
pub mod format;
mod groups;
mod index;
mod log;
mod names;
mod partition;
pub mod partitioner;
mod segment;
mod topic;
mod txn;

pub use config::{Durability, LogOptions, TopicConfig};
pub use consumer::{Consumer, StartFrom};
pub use error::{LogError, Result};
pub use groups::GroupStore;
pub use log::Log;
pub use names::validate_name;
pub use partition::{AppendInfo, Partition, PartitionStats};
pub use topic::Topic;
pub use txn::{CommitReport, Transaction};
