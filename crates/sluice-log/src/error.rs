//! The log's one error type.

use std::path::PathBuf;

use sluice_types::{ErrorKind, Offset, PartitionId, Retry};

/// Result alias for the log crate.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Everything that can go wrong in the log. Messages name the file, topic, partition or offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A topic name was used that does not exist.
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// `create_topic` on a name that is taken.
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    /// A topic or group name that cannot be used as a directory name.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A partition number outside `0..partitions`.
    #[error("topic {topic:?} has {partitions} partitions; partition {partition} does not exist")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// The requested partition.
        partition: PartitionId,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A read asked for an offset outside `[log_start, end]`.
    #[error("{topic}/{partition}: offset {requested} is out of range (valid: {log_start}..={end})")]
    OffsetOutOfRange {
        /// Topic name.
        topic: String,
        /// Partition.
        partition: PartitionId,
        /// The offset asked for.
        requested: Offset,
        /// First offset still retained.
        log_start: Offset,
        /// Next offset to be written.
        end: Offset,
    },
    /// A checksum mismatch or an impossible field inside a file that is not at its tail.
    #[error("{}: corrupt data at byte {position}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the damaged batch or entry.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// A file written by a newer (or unknown) format version.
    #[error("{}: unsupported format version {found} (this build reads version {supported})", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version found in its header.
        found: u16,
        /// Version this build understands.
        supported: u16,
    },
    /// A record too large to be stored.
    #[error("record of {size} bytes is larger than the limit of {limit} bytes")]
    RecordTooLarge {
        /// Encoded size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// A previous fsync or write failed; the partition accepts no more writes until reopened.
    #[error("{topic}/{partition} refuses writes after an earlier failure: {cause}")]
    Poisoned {
        /// Topic name.
        topic: String,
        /// Partition.
        partition: PartitionId,
        /// The original failure.
        cause: String,
    },
    /// Another process holds the data directory.
    #[error("data directory {} is in use by another sluice process (lock file {})", dir.display(), lock.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// The log was opened read-only and a write was attempted.
    #[error("the log at {} is open read-only", .0.display())]
    ReadOnly(PathBuf),
    /// A transaction id that is in use, unknown, or in the wrong state for the call.
    #[error("transaction {id:?}: {reason}")]
    Transaction {
        /// Transactional id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// An I/O error, with the path it happened on.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl LogError {
    /// Who is at fault.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            LogError::UnknownTopic(_)
            | LogError::TopicExists(_)
            | LogError::InvalidName { .. }
            | LogError::InvalidConfig(_)
            | LogError::UnknownPartition { .. }
            | LogError::OffsetOutOfRange { .. }
            | LogError::RecordTooLarge { .. }
            | LogError::Locked { .. }
            | LogError::ReadOnly(_)
            | LogError::Transaction { .. } => ErrorKind::User,
            LogError::Io { .. } | LogError::Poisoned { .. } => ErrorKind::External,
            LogError::Corrupt { .. } | LogError::UnsupportedVersion { .. } => ErrorKind::Internal,
        }
    }

    /// Whether retrying can help.
    #[must_use]
    pub fn retry(&self) -> Retry {
        match self {
            LogError::Io { .. } | LogError::Locked { .. } => Retry::WithBackoff,
            _ => Retry::No,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LogError {
        let path = path.into();
        move |source| LogError::Io { path, source }
    }
}
