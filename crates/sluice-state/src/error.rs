//! The state crate's one error type.

use sluice_types::{ErrorKind, Retry};

/// Result alias for the state crate.
pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// Everything that can go wrong with keyed state and its snapshots. Messages name the snapshot,
/// the section and the byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A snapshot's bytes are damaged, truncated or impossible.
    #[error("snapshot {snapshot}: {section} at byte {offset}: {reason}")]
    Corrupt {
        /// The snapshot's name (its file name, or whatever the caller named it).
        snapshot: String,
        /// Where: `header`, `key group 17`, `footer`.
        section: String,
        /// Byte offset from the start of the snapshot.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A snapshot written by a format version this build does not read.
    #[error(
        "snapshot {snapshot}: unsupported format version {found} (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The snapshot's name.
        snapshot: String,
        /// Version in its header.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// A snapshot that is intact but does not fit the state restoring it: another operator,
    /// another state schema, another number of key groups.
    #[error("snapshot {snapshot} does not fit operator {operator:?}: {reason}")]
    Incompatible {
        /// The snapshot's name.
        snapshot: String,
        /// The operator restoring it.
        operator: String,
        /// What differs, with both values.
        reason: String,
    },
    /// A value that cannot be decoded from a state entry.
    #[error("{0}")]
    Codec(#[from] CodecError),
    /// A parameter out of range (key groups, parallelism, names).
    #[error("invalid state configuration: {0}")]
    InvalidConfig(String),
    /// A key whose key group is not owned by this state instance (a routing bug).
    #[error("key group {group} is outside the owned range {range}")]
    KeyGroupNotOwned {
        /// The key's group.
        group: u32,
        /// The owned range.
        range: String,
    },
    /// A reservation that would take the memory tracker past its budget.
    #[error("memory budget exceeded: {account} asked for {requested} bytes, {used} of {budget} in use")]
    MemoryBudget {
        /// The account that asked.
        account: String,
        /// Bytes asked for.
        requested: usize,
        /// Bytes in use over all accounts.
        used: usize,
        /// The budget.
        budget: usize,
    },
    /// An I/O error while writing or reading a snapshot.
    #[error("snapshot {snapshot}: {source}")]
    Io {
        /// The snapshot's name.
        snapshot: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StateError {
    /// Who is at fault.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::Incompatible { .. } | StateError::InvalidConfig(_) => ErrorKind::User,
            StateError::Io { .. } | StateError::MemoryBudget { .. } => ErrorKind::External,
            StateError::Corrupt { .. }
            | StateError::UnsupportedVersion { .. }
            | StateError::Codec(_)
            | StateError::KeyGroupNotOwned { .. } => ErrorKind::Internal,
        }
    }

    /// Whether retrying can help.
    #[must_use]
    pub fn retry(&self) -> Retry {
        match self {
            StateError::Io { .. } | StateError::MemoryBudget { .. } => Retry::WithBackoff,
            _ => Retry::No,
        }
    }
}

/// A value that could not be decoded: what was being decoded, at which byte of the input, and
/// why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {what} at byte {offset}: {reason}")]
pub struct CodecError {
    /// The type or field being decoded (`u64`, `String`, `Vec length`).
    pub what: &'static str,
    /// Offset in the decoded slice.
    pub offset: usize,
    /// Why.
    pub reason: String,
}
