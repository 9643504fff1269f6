//! Settings: per-topic configuration (persisted with the topic) and per-open options.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{LogError, Result};

/// When appended data is fsynced. Whatever the policy, an append is visible to readers as soon
/// as it returns, and a process crash (`kill -9`) loses nothing that was acknowledged: the data
/// is in the OS page cache. The policy decides what survives a *machine* crash or power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Fsync every batch before the append returns. Nothing acknowledged is ever lost.
    EveryBatch,
    /// Fsync dirty partitions at most this long after they were written: a background flusher
    /// fsyncs every half interval, outside the append path. A power loss can lose up to one
    /// interval of acknowledged data.
    Interval(Duration),
    /// Never fsync on the write path; the OS writes back when it likes. Segments are still
    /// fsynced when they roll and when the log is closed.
    Os,
}

impl Default for Durability {
    /// Default = `Interval(1 s)`.
    fn default() -> Self {
        Durability::Interval(Duration::from_secs(1))
    }
}

/// Options chosen when a [`crate::Log`] is opened (not persisted).
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Fsync policy. Default = [`Durability::Interval`] of 1 s.
    pub durability: Durability,
    /// Open without taking the writer lock: no recovery, no writes; the tail of the active
    /// segment is re-read from disk to follow another process's appends. Default = false.
    pub read_only: bool,
    /// Largest encoded record accepted. Default = 8 MiB.
    pub max_record_bytes: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { durability: Durability::default(), read_only: false, max_record_bytes: 8 << 20 }
    }
}

impl LogOptions {
    /// Sets the fsync policy.
    #[must_use]
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// Opens read-only (see [`LogOptions::read_only`]).
    #[must_use]
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }
}

/// A topic's configuration, stored in `topic.json` beside its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// Number of partitions (1..=10_000). Fixed at creation.
    pub partitions: u32,
    /// Delete closed segments whose newest record is older than this. `None` = keep forever
    /// (the default).
    #[serde(default)]
    pub retention_ms: Option<u64>,
    /// Delete the oldest closed segments while a partition is larger than this. `None` = no
    /// limit (the default).
    #[serde(default)]
    pub retention_bytes: Option<u64>,
    /// Roll the active segment when it reaches this size. Default = 128 MiB.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Roll the active segment when its first record was appended this long ago.
    /// Default = 7 days.
    #[serde(default = "default_segment_ms")]
    pub segment_ms: u64,
    /// Bytes of batches between two entries of the sparse offset and time indexes.
    /// Default = 4096.
    #[serde(default = "default_index_interval")]
    pub index_interval_bytes: u32,
}

fn default_segment_bytes() -> u64 {
    128 << 20
}
fn default_segment_ms() -> u64 {
    7 * 24 * 3600 * 1000
}
fn default_index_interval() -> u32 {
    4096
}

impl TopicConfig {
    /// A configuration with `partitions` partitions and every other setting at its default.
    #[must_use]
    pub fn new(partitions: u32) -> Self {
        TopicConfig {
            partitions,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: default_segment_bytes(),
            segment_ms: default_segment_ms(),
            index_interval_bytes: default_index_interval(),
        }
    }

    /// Sets retention by age.
    #[must_use]
    pub fn retention_ms(mut self, ms: Option<u64>) -> Self {
        self.retention_ms = ms;
        self
    }

    /// Sets retention by size.
    #[must_use]
    pub fn retention_bytes(mut self, bytes: Option<u64>) -> Self {
        self.retention_bytes = bytes;
        self
    }

    /// Sets the segment size at which the active segment rolls.
    #[must_use]
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets the segment age at which the active segment rolls.
    #[must_use]
    pub fn segment_ms(mut self, ms: u64) -> Self {
        self.segment_ms = ms;
        self
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// [`LogError::InvalidConfig`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if !(1..=10_000).contains(&self.partitions) {
            return Err(LogError::InvalidConfig(format!(
                "partitions must be between 1 and 10000, got {}",
                self.partitions
            )));
        }
        if self.segment_bytes < 1024 || self.segment_bytes > u64::from(u32::MAX) {
            return Err(LogError::InvalidConfig(format!(
                "segment_bytes must be between 1 KiB and 4 GiB, got {}",
                self.segment_bytes
            )));
        }
        if self.segment_ms == 0 {
            return Err(LogError::InvalidConfig("segment_ms must be positive".into()));
        }
        if self.index_interval_bytes == 0 {
            return Err(LogError::InvalidConfig("index_interval_bytes must be positive".into()));
        }
        Ok(())
    }
}
