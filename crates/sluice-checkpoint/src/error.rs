//! The checkpoint crate's one error type.

use sluice_types::{ErrorKind, Retry};

/// Result alias for the checkpoint crate.
pub type Result<T, E = CheckpointError> = std::result::Result<T, E>;

/// Everything that can go wrong storing or loading a checkpoint. Every variant names the store
/// object (`<job>/chk-<id>/<file>`) or the store it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The store could not be opened (bad URL, a scheme this build has no support for, a local
    /// directory that cannot be created).
    #[error("cannot open checkpoint store {location}: {reason}")]
    Open {
        /// The URL or path given.
        location: String,
        /// Why.
        reason: String,
    },
    /// An operation on the object store failed (disk full, permission denied, unreachable).
    #[error("checkpoint store {store}: {op} {path} failed: {source}")]
    Store {
        /// The store (its `Display`, say `LocalFileSystem(file:///data/checkpoints/)`).
        store: String,
        /// `put`, `get`, `list`, `delete`.
        op: &'static str,
        /// The object or prefix.
        path: String,
        /// The store's error (boxed: it is large).
        #[source]
        source: Box<object_store::Error>,
    },
    /// An object that should be there is not.
    #[error("checkpoint store: {path} does not exist")]
    NotFound {
        /// The object.
        path: String,
    },
    /// An object whose bytes do not match what was written: a failed checksum, a wrong size,
    /// a truncated or impossible manifest.
    #[error("checkpoint store: {path} is corrupt: {reason}")]
    Corrupt {
        /// The object.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest written by a format version this build does not read.
    #[error("checkpoint store: {path} has manifest version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The manifest.
        path: String,
        /// Version in the manifest.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// An intact manifest that belongs elsewhere (another job, another checkpoint id).
    #[error("checkpoint store: {path} does not belong here: {reason}")]
    Mismatch {
        /// The manifest.
        path: String,
        /// Both values.
        reason: String,
    },
    /// A checkpoint, savepoint or state file that already exists and will not be overwritten.
    #[error("checkpoint store: {path} already exists")]
    AlreadyExists {
        /// The object or prefix.
        path: String,
    },
    /// A commit refused because state files did not reach the store.
    #[error("checkpoint store: cannot commit {path}: the upload of {files} failed or did not finish")]
    Unfinished {
        /// The checkpoint's folder.
        path: String,
        /// The state files missing, comma-separated.
        files: String,
    },
    /// A job, operator or savepoint name that cannot be part of a store path.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// `job`, `operator`, `savepoint`.
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A parameter out of range (`retain_last(0)`).
    #[error("invalid checkpoint configuration: {0}")]
    InvalidConfig(String),
}

impl CheckpointError {
    /// Who is at fault.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            CheckpointError::Open { .. }
            | CheckpointError::InvalidName { .. }
            | CheckpointError::InvalidConfig(_)
            | CheckpointError::Mismatch { .. } => ErrorKind::User,
            CheckpointError::Store { .. } | CheckpointError::NotFound { .. } => ErrorKind::External,
            CheckpointError::Corrupt { .. }
            | CheckpointError::UnsupportedVersion { .. }
            | CheckpointError::AlreadyExists { .. }
            | CheckpointError::Unfinished { .. } => ErrorKind::Internal,
        }
    }

    /// Whether retrying can help: a store failure may clear (disk space freed, network back);
    /// a missing, corrupt or misnamed object stays so.
    #[must_use]
    pub fn retry(&self) -> Retry {
        match self {
            CheckpointError::Store { source, .. } => match **source {
                object_store::Error::NotFound { .. }
                | object_store::Error::InvalidPath { .. }
                | object_store::Error::NotSupported { .. }
                | object_store::Error::NotImplemented { .. }
                | object_store::Error::AlreadyExists { .. } => Retry::No,
                _ => Retry::WithBackoff,
            },
            _ => Retry::No,
        }
    }
}
