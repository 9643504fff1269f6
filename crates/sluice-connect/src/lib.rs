//! Sluice's connectors: where a pipeline's rows come from and where its results go.
//!
//! # Layout
//! - [`source`]: [`LogSource`] (a topic of the embedded log, bounded or following the tail),
//!   [`FileSource`] (JSON lines or CSV; a file or a directory of files) and [`StdinSource`]
//!   (JSON lines until EOF). They implement `sluice_dataflow::source::{Source, SourceReader}`
//!   and decode with `sluice-format` into the job's Arrow schema.
//! - [`sink`]: [`StdoutSink`] and [`FileSink`] (JSON lines), [`PartFileSink`] (JSON-lines part
//!   files committed with checkpoints, exactly once) and [`LogSink`] (one record per row
//!   appended to a topic; exactly once through log transactions if asked). They implement
//!   `sluice_dataflow::sink::Sink` and encode with `sluice-format`'s JSON encoder.
//! - `kafka` (cargo feature `kafka`): `KafkaSource` and `KafkaSink`, Apache Kafka topics
//!   through rdkafka with its bundled librdkafka; exactly once through Kafka transactions.
//! - [`dead_letter`]: [`DeadLetters`], where malformed input records go — with the error and
//!   their position (`topic/partition@offset`, `path:line` or `stdin:line`) — instead of
//!   stopping the job. A source in *strict* mode fails the job on the first one instead.
//!
//! # Errors
//! Sources and sinks report failures as `DataflowError::Connector` (the error type of the
//! traits they implement), with the connector's judgement of who is at fault and whether a
//! retry can help, and a message naming the topic, file or position; see [`error`].
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use arrow_schema::{DataType, Field, Schema};
//! use sluice_connect::{DeadLetters, LogSink, LogSource};
//! use sluice_dataflow::{ops::count, window::WindowSpec, Pipeline};
//! use sluice_log::{Log, LogOptions, TopicConfig};
//! use sluice_types::Record;
//!
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), LogOptions::default())?;
//! let views = log.create_topic("page_views", TopicConfig::new(2))?;
//! log.create_topic("counts", TopicConfig::new(1))?;
//! views.append(vec![
//!     Record::new(r#"{"ts": 1000, "url": "/a"}"#, 1000).with_key("/a"),
//!     Record::new(r#"{"ts": 2000, "url": "/a"}"#, 2000).with_key("/a"),
//!     Record::new(r#"not json"#, 2000).with_key("/b"),
//! ])?;
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("ts", DataType::Int64, false),
//!     Field::new("url", DataType::Utf8, false),
//! ]));
//! let dead = DeadLetters::memory();
//! let source = LogSource::new(&log, "page_views", schema)?.dead_letters(dead.clone()); // bounded
//! let report = Pipeline::new("page_view_counts")
//!     .source(source)
//!     .event_time("ts", Duration::from_secs(5))
//!     .key_by(["url"])
//!     .window(WindowSpec::tumbling(60_000)?)
//!     .aggregate([count().as_("views")])
//!     .sink(LogSink::new(&log, "counts")?.key_columns(["url"]))
//!     .run()?;
//! assert_eq!(report.records_in, 2);
//! assert_eq!(dead.count(), 1); // "not json", with its position page_views/1@0
//! let counts = log.topic("counts")?.partitions()[0].read(0, 1 << 20)?;
//! assert_eq!(counts.len(), 1);
//! assert_eq!(
//!     &counts[0].record.value[..],
//!     br#"{"window_start":"1970-01-01 00:00:00.000","window_end":"1970-01-01 00:01:00.000","url":"/a","views":2}"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dead_letter;
pub mod error;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod sink;
pub mod source;

pub use dead_letter::DeadLetters;
#[cfg(feature = "kafka")]
pub use kafka::{
    Assignment, DeliveryGuarantee, GroupMember, KafkaConfig, KafkaSink, KafkaSource, KeyFormat, StartupMode,
    TXN_HEADER,
};
pub use sink::{FileSink, LogSink, PartFileSink, StdoutSink};
pub use source::{EndOfInput, FileFormat, FileSource, LogMetadata, LogSource, StdinSource};
