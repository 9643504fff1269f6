//! The crate's one error type.
//!
//! A malformed record is not an error in the normal mode: it comes back as a
//! [`Rejected`](crate::Rejected) value beside the decoded batch, for the dead-letter output.
//! It becomes [`FormatError::Malformed`] only in strict mode. The other variants are
//! configuration mistakes (a schema this crate cannot decode, a CSV header without a required
//! column, a column the encoder cannot write) and Arrow failures that indicate a bug.

use arrow_schema::{ArrowError, DataType};
use sluice_types::{ErrorKind, Retry};

use crate::Position;

/// Result alias for the format crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// Everything that can go wrong while decoding or encoding records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A record could not be decoded (strict mode only; otherwise it is rejected).
    #[error("{position}: malformed record: {reason}")]
    Malformed {
        /// Where the record came from.
        position: Position,
        /// What is wrong with it, naming the field where there is one.
        reason: String,
    },
    /// A schema field has a type this crate does not decode.
    #[error("field `{field}`: type {data_type} is not supported (supported: {supported})")]
    UnsupportedType {
        /// The field's name.
        field: String,
        /// Its type.
        data_type: DataType,
        /// The supported types, for the message.
        supported: &'static str,
    },
    /// A CSV header that cannot be used: unreadable, or lacking a NOT NULL column.
    #[error("{position}: CSV header: {reason}")]
    Header {
        /// Where the header came from.
        position: Position,
        /// What is wrong with it.
        reason: String,
    },
    /// A batch has a column type the JSON encoder cannot write.
    #[error("cannot encode as JSON: {source}")]
    Encode {
        /// Arrow's refusal, naming the type.
        #[source]
        source: ArrowError,
    },
    /// An Arrow kernel failed where it should not; a bug in this crate or in Arrow.
    #[error("internal arrow error while {context}: {source}")]
    Arrow {
        /// What was being done.
        context: &'static str,
        /// The Arrow error.
        #[source]
        source: ArrowError,
    },
}

impl FormatError {
    /// Who is at fault.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            FormatError::Malformed { .. }
            | FormatError::UnsupportedType { .. }
            | FormatError::Header { .. }
            | FormatError::Encode { .. } => ErrorKind::User,
            FormatError::Arrow { .. } => ErrorKind::Internal,
        }
    }

    /// Whether retrying can help. Decoding is a pure function of its input, so it never does.
    #[must_use]
    pub fn retry(&self) -> Retry {
        Retry::No
    }

    /// Wraps an Arrow error with what was being done.
    pub(crate) fn arrow(context: &'static str) -> impl FnOnce(ArrowError) -> FormatError {
        move |source| FormatError::Arrow { context, source }
    }
}
