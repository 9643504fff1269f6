//! Sluice's shared vocabulary.
//!
//! This crate is the leaf of the workspace: every other crate depends on it and it depends on
//! nothing of ours, does no I/O and starts no runtime. It holds the nouns that cross layer
//! boundaries:
//!
//! - [`Record`] and [`Header`]: one event as the log stores it (key, value, event time, headers).
//! - [`PartitionId`] and [`Offset`]: where a record sits in a topic.
//! - [`ErrorKind`] and [`Retry`]: who is at fault for an error and whether retrying can help.
//!   Every library error enum in the workspace maps itself onto these two.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;

pub use bytes::Bytes;

/// Position of a record inside one partition. Offsets are dense: the first record of a
/// partition has offset 0, the next 1, and so on, with no gaps.
pub type Offset = u64;

/// Event time or append time in milliseconds since the Unix epoch (UTC).
pub type TimestampMs = i64;

/// Index of a partition inside a topic (`0..partitions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionId(pub u32);

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for PartitionId {
    fn from(p: u32) -> Self {
        PartitionId(p)
    }
}

/// A record header: a named, optional byte value (as in Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name, UTF-8.
    pub key: String,
    /// Header value; `None` is a null value, distinct from an empty one.
    pub value: Option<Bytes>,
}

/// One event: what a producer appends and what a consumer reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partitioning key; `None` for records without a key.
    pub key: Option<Bytes>,
    /// The payload, opaque bytes.
    pub value: Bytes,
    /// Event time in milliseconds since the epoch (or append time if the producer had none).
    pub timestamp: TimestampMs,
    /// Application headers, in order.
    pub headers: Vec<Header>,
}

impl Record {
    /// A record with a value and a timestamp, no key and no headers.
    #[must_use]
    pub fn new(value: impl Into<Bytes>, timestamp: TimestampMs) -> Self {
        Record { key: None, value: value.into(), timestamp, headers: Vec::new() }
    }

    /// Sets the key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Appends a header.
    #[must_use]
    pub fn with_header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Self {
        self.headers.push(Header { key: key.into(), value });
        self
    }
}

/// A record read back from a partition, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The partition's offset of this record.
    pub offset: Offset,
    /// The record itself.
    pub record: Record,
}

/// Who is at fault for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input or configuration is wrong (bad flag, unknown topic, malformed record).
    User,
    /// Something outside the process failed (disk, network, another service).
    External,
    /// A bug or a broken invariant inside Sluice, or corrupted data it wrote.
    Internal,
}

/// Whether repeating the failed operation can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Retrying the same operation will fail the same way.
    No,
    /// The condition may clear; retry with backoff.
    WithBackoff,
}
